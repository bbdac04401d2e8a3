"""Acceptance test: append, the file writer and custom metadata through NVIDIA's Python SDK
(`aistore`, pinned in scripts/requirements-test.txt) against one aisle node.

Goal: what the SDK's `ObjectWriter.append_content` (with flush), `get_writer().as_file()` and
`set_custom_props` do against AIS, they do here: appends accumulate invisibly until the flush,
the file writer ('a' keeps existing content, 'w' truncates), custom metadata stored, returned by
HEAD and GET, merged or replaced in place without touching the data.

Usage: python sdk_objects.py http://127.0.0.1:PORT   (run by node/tests/python_sdk.rs)
"""

import http.client
import sys
from urllib.parse import quote, urlparse

import xxhash

from aistore.sdk.errors import AISError, ErrObjNotFound
from sdkutil import step, expect_raises, sdk_client


def raw(url, method, path, headers=(), body=b""):
    """One request with possibly repeated headers (requests cannot repeat a header)."""
    u = urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.putrequest(method, path)
    for k, v in headers:
        c.putheader(k, v)
    c.putheader("Content-Length", str(len(body)))
    c.endheaders()
    c.send(body)
    r = c.getresponse()
    out = (r.status, r.getheaders(), r.read())
    c.close()
    return out


def main():
    url = sys.argv[1]
    client = sdk_client(url)
    bck = client.bucket("objs")
    bck.create(exist_ok=True)

    step("append_content x3 then flush: invisible until the flush, then the concatenation")
    obj = bck.object("ap/one")
    w = obj.get_writer()
    h = w.append_content(b"hello ")
    assert h, "first append returned no handle"
    h = w.append_content(b"append ", handle=h)
    h = w.append_content(b"world", handle=h)
    expect_raises(ErrObjNotFound, lambda: obj.get_reader().read_all(), "GET before flush")
    h2 = w.append_content(b"", handle=h, flush=True)
    assert h2 == "", f"flush returned a handle {h2!r}"
    got = obj.get_reader().read_all()
    assert got == b"hello append world", got
    props = obj.head("size,checksum,version")
    assert props.size == len(got), props.size
    assert props.checksum_value == xxhash.xxh64(got, seed=0).hexdigest(), props.checksum_value

    step("a used (stale) handle or a flushed one is refused with an error; the object is unchanged")
    expect_raises(AISError, lambda: w.append_content(b"x", handle=h), "append with a flushed handle")
    expect_raises(AISError, lambda: w.append_content(b"", handle=h, flush=True), "second flush")
    h = w.append_content(b"1")
    h_new = w.append_content(b"2", handle=h)
    expect_raises(AISError, lambda: w.append_content(b"3", handle=h), "stale handle")
    w.append_content(b"", handle=h_new, flush=True)
    assert obj.get_reader().read_all() == b"hello append world12", "append to an existing object"

    step("flush with a checksum: a wrong one fails and changes nothing; the right one stores")
    o2 = bck.object("ap/cksum")
    w2 = o2.get_writer()
    h = w2.append_content(b"abc")
    path = f"/v1/objects/objs/{quote('ap/cksum')}?append_type=flush&append_handle={quote(h)}"
    bad = [("Ais-Checksum-Type", "xxhash2"), ("Ais-Checksum-Value", "0123456789abcdef")]
    st, _, body = raw(url, "PUT", path, bad)
    assert st == 400, (st, body)
    assert b"BAD DATA CHECKSUM" in body, body
    expect_raises(ErrObjNotFound, lambda: o2.get_reader().read_all(), "object after a bad flush")
    h = w2.append_content(b"abc")
    h = w2.append_content(b"def", handle=h)
    path = f"/v1/objects/objs/{quote('ap/cksum')}?append_type=flush&append_handle={quote(h)}"
    good = [("Ais-Checksum-Type", "xxhash2"), ("Ais-Checksum-Value", xxhash.xxh64(b"abcdef", seed=0).hexdigest())]
    st, _, body = raw(url, "PUT", path, good)
    assert st == 200, (st, body)
    assert o2.get_reader().read_all() == b"abcdef"

    step("as_file(): several writes, one object on close; 'a' keeps content, 'w' truncates")
    o3 = bck.object("ap/file")
    with o3.get_writer().as_file() as f:
        for i in range(5):
            f.write(f"piece{i};".encode())
    want = b"".join(f"piece{i};".encode() for i in range(5))
    assert o3.get_reader().read_all() == want, o3.get_reader().read_all()
    with o3.get_writer().as_file(mode="a") as f:
        f.write(b"more")
    assert o3.get_reader().read_all() == want + b"more"
    with o3.get_writer().as_file(mode="w") as f:
        f.write(b"new ")
        f.write(b"content")
    assert o3.get_reader().read_all() == b"new content"

    step("custom metadata on PUT (Ais-Custom-Md, one k=v per header) returned by HEAD and GET")
    o4 = bck.object("md/one")
    data = b"custom data"
    hdrs = [("Ais-Custom-Md", "color=blue"), ("Ais-Custom-Md", "owner=team=a")]
    st, _, body = raw(url, "PUT", "/v1/objects/objs/md/one", hdrs, data)
    assert st == 200, (st, body)
    want_md = {"color": "blue", "owner": "team=a"}
    assert o4.head("custom").custom_metadata == want_md, o4.head("custom").custom_metadata
    assert o4.props.custom_metadata == want_md, o4.props.custom_metadata
    r = o4.get_reader()
    assert r.read_all() == data
    assert r.attributes.custom_metadata == want_md, r.attributes.custom_metadata

    step("set_custom_props merges; replace_existing replaces; the data is untouched")
    o4.get_writer().set_custom_props({"color": "red", "size": "L"})
    assert o4.head("custom").custom_metadata == {"color": "red", "owner": "team=a", "size": "L"}
    o4.get_writer().set_custom_props({"only": "this"}, replace_existing=True)
    assert o4.head("custom").custom_metadata == {"only": "this"}, o4.head("custom").custom_metadata
    assert o4.get_reader().read_all() == data, "data changed by set_custom_props"
    assert o4.head("checksum").checksum_value == xxhash.xxh64(data, seed=0).hexdigest()

    step("custom metadata: reserved key, too large, missing object are errors that change nothing")
    expect_raises(AISError, lambda: o4.get_writer().set_custom_props({"orig_fntl": "x"}), "orig_fntl")
    expect_raises(AISError, lambda: o4.get_writer().set_custom_props({"k": "v" * 3000}), "too large")
    assert o4.head("custom").custom_metadata == {"only": "this"}
    expect_raises(ErrObjNotFound, lambda: bck.object("md/none").get_writer().set_custom_props({"a": "b"}), "missing")

    print("SDK objects test: OK", flush=True)


if __name__ == "__main__":
    main()
