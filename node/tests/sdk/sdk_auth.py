"""Acceptance test: token access control through NVIDIA's Python SDK (`aistore`) against one
aisle node started with a token secret (run by node/tests/python_sdk.rs, which mints the
tokens in AIS AuthN's format).

Usage: sdk_auth.py URL ADMIN_TOKEN READER_TOKEN
  ADMIN_TOKEN   `admin: true`
  READER_TOKEN  read-only (AIS AccessRO) on bucket `authb` only
"""

import sys

from aistore.sdk.errors import AISError
from sdkutil import step, expect_raises, sdk_client, content


def status_of(e):
    return getattr(e, "status_code", None)


def main(url, admin_token, reader_token):
    anon = sdk_client(url)
    admin = sdk_client(url, token=admin_token)
    reader = sdk_client(url, token=reader_token)
    data = content(7, 10_000)

    step("no token: 401 from the node, nothing created")
    e = expect_raises(AISError, lambda: anon.bucket("authb").create(), "create without a token")
    assert status_of(e) == 401, e
    e = expect_raises(AISError, lambda: anon.bucket("authb").object("x").get_reader().read_all(),
                      "GET without a token")
    assert status_of(e) == 401, e

    step("admin token (Client(token=...)): create buckets, put, read back")
    admin.bucket("authb").create()
    admin.bucket("other").create()
    admin.bucket("authb").object("x").get_writer().put_content(data)
    admin.bucket("other").object("x").get_writer().put_content(data)
    assert admin.bucket("authb").object("x").get_reader().read_all() == data

    step("reader token: GET, HEAD and list on authb")
    assert reader.bucket("authb").object("x").get_reader().read_all() == data
    props = reader.bucket("authb").object("x").head()
    # SDK 2.x answers ObjectProps, 1.x the response headers.
    size = props.size if hasattr(props, "size") else int(props["Content-Length"])
    assert size == len(data), props
    names = [o.name for o in reader.bucket("authb").list_all_objects()]
    assert names == ["x"], names

    step("reader token: PUT and DELETE on authb refused (403), object unchanged")
    e = expect_raises(AISError,
                      lambda: reader.bucket("authb").object("y").get_writer().put_content(b"no"),
                      "PUT with a read-only token")
    assert status_of(e) == 403, e
    e = expect_raises(AISError, lambda: reader.bucket("authb").object("x").delete(),
                      "DELETE with a read-only token")
    assert status_of(e) == 403, e
    assert admin.bucket("authb").object("x").get_reader().read_all() == data

    step("reader token: another bucket refused (403); bucket create refused (403)")
    e = expect_raises(AISError, lambda: reader.bucket("other").object("x").get_reader().read_all(),
                      "GET on another bucket")
    assert status_of(e) == 403, e
    e = expect_raises(AISError, lambda: reader.bucket("third").create(), "create with a reader token")
    assert status_of(e) == 403, e

    step("admin token: destroy")
    admin.bucket("other").delete()
    print("SDK auth test: OK")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
