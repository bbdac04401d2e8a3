"""Acceptance test: NVIDIA's Python SDK (`aistore`, pinned in scripts/requirements-test.txt)
against one aisle node.

Goal: the unmodified SDK can create and destroy buckets, write, read (whole, one range, and
"direct" via the Smap), HEAD and delete objects, page through listings, and read cluster info,
with the SDK's own error classes raised where AIS raises them.

Usage: python sdk_test.py http://127.0.0.1:PORT   (run by node/tests/python_sdk.rs)

Steps, each checked with asserts; a failing step names itself in the traceback.
"""

import sys
from importlib.metadata import version

import xxhash

from aistore.sdk import Client
from aistore.sdk.errors import AISError, ErrBckAlreadyExists, ErrBckNotFound, ErrObjNotFound
from sdkutil import step, content, expect_raises, sdk_client


def main():
    url = sys.argv[1]
    step(f"aistore SDK {version('aistore')}, xxhash {version('xxhash')}, node {url}")

    # The SDK's default retry config retries ErrObjNotFound (an AISRetryableError) up to 7
    # times with 1-30 s random waits, so an expected 404 would take minutes. Retry only
    # connection errors, briefly, and no HTTP status, so expected errors surface at once
    # and unexpected 5xx fail the test instead of being retried away.
    client = sdk_client(url)

    step("cluster().is_ready() and get_info()")
    cluster = client.cluster()
    assert cluster.is_ready() is True, "is_ready() returned False"
    smap = cluster.get_info()
    assert len(smap.tmap) == 1, f"expected one target, got {list(smap.tmap)}"
    assert smap.proxy_si.public_net.direct_url.rstrip("/") == url.rstrip("/"), smap.proxy_si.public_net.direct_url
    assert cluster.get_primary_url().rstrip("/") == url.rstrip("/")
    for tid, tsi in smap.tmap.items():
        # The SDK's client-side HRW (direct reads) needs AIS's digest: XXH64(id, seed 1103515245).
        assert tsi.id_digest == xxhash.xxh64(tid.encode(), seed=1103515245).intdigest(), (tid, tsi.id_digest)

    step("bucket create, create(exist_ok=True), plain second create raises ErrBckAlreadyExists")
    bck = client.bucket("b")
    bck.create()
    bck.create(exist_ok=True)
    e = expect_raises(ErrBckAlreadyExists, bck.create, "second create")
    assert "ais://b" in str(e), str(e)
    names = [b.name for b in cluster.list_buckets()]
    assert "b" in names, names
    hdrs = bck.head()
    assert "ais-bucket-props" in {k.lower() for k in hdrs}, dict(hdrs)

    step("put_content / read_all / byte range / head")
    data = content(1, 100_000)
    obj = bck.object("dir/obj one+plus")  # '/', ' ' and '+' exercise the SDK's URL quoting
    resp = obj.get_writer().put_content(data)
    assert resp.status_code == 200, resp.status_code
    want_cksum = xxhash.xxh64(data, seed=0).hexdigest()
    assert resp.headers.get("ais-checksum-value") == want_cksum, dict(resp.headers)

    reader = obj.get_reader()
    got = reader.read_all()
    assert got == data, f"read_all: {len(got)} bytes, content differs"
    attrs = reader.attributes
    assert attrs.size == len(data), attrs.size
    assert attrs.checksum_type == "xxhash2", attrs.checksum_type
    assert attrs.checksum_value == want_cksum, attrs.checksum_value

    got = obj.get_reader(byte_range="bytes=10-19").read_all()
    assert got == data[10:20], got
    got = obj.get_reader(byte_range="bytes=-5").read_all()
    assert got == data[-5:], got
    got = obj.get_reader(byte_range="bytes=99990-").read_all()
    assert got == data[99990:], got

    props = obj.head("size,checksum")
    assert props.size == len(data), props.size
    assert props.checksum_type == "xxhash2", props.checksum_type
    assert props.checksum_value == want_cksum, props.checksum_value
    assert props.present, "ais-present"
    props = obj.head()  # the SDK's default props (name,size)
    assert props.size == len(data), props.size
    assert props.name == "dir/obj one+plus", props.name

    step("empty object")
    empty = bck.object("empty")
    empty.get_writer().put_content(b"")
    assert empty.get_reader().read_all() == b""
    assert empty.head("size").size == 0

    step("direct=True read (client-side HRW over the Smap's tmap)")
    got = obj.get_reader(direct=True).read_all()
    assert got == data, "direct read differs"

    step("missing object: GET raises ErrObjNotFound")
    expect_raises(ErrObjNotFound, lambda: bck.object("nope").get_reader().read_all(), "GET missing")

    step("listing: 250 objects, page_size=100 -> 3 pages; list_all_objects / list_objects_iter")
    names = sorted(f"many/{i:04d}" for i in range(250))
    for i, n in enumerate(names):
        bck.object(n).get_writer().put_content(content(1000 + i, i))
    page1 = bck.list_objects(prefix="many/", page_size=100)
    assert len(page1.entries) == 100, len(page1.entries)
    assert page1.continuation_token != "", "first page must have a continuation token"
    assert [e.name for e in page1.entries] == names[:100]
    page2 = bck.list_objects(
        prefix="many/", page_size=100, uuid=page1.uuid, continuation_token=page1.continuation_token
    )
    assert [e.name for e in page2.entries] == names[100:200]
    page3 = bck.list_objects(
        prefix="many/", page_size=100, uuid=page2.uuid, continuation_token=page2.continuation_token
    )
    assert [e.name for e in page3.entries] == names[200:]
    assert page3.continuation_token == "", page3.continuation_token
    all_entries = bck.list_all_objects(prefix="many/", page_size=100)
    assert [e.name for e in all_entries] == names
    assert all(e.size == int(e.name[5:]) for e in all_entries), "sizes in list_all_objects"
    iter_names = [e.name for e in bck.list_objects_iter(prefix="many/", page_size=100)]
    assert iter_names == names
    whole = [e.name for e in bck.list_all_objects()]
    assert whole == sorted(names + ["dir/obj one+plus", "empty"]), whole[:5]
    cs = bck.list_objects(prefix="dir/", props="name,size,checksum").entries
    assert len(cs) == 1 and cs[0].size == len(data), cs
    assert cs[0].checksum == want_cksum, cs[0].checksum

    step("the SDK's default Client (default retry config) does a round trip too")
    dflt = Client(url)
    dobj = dflt.bucket("b").object("default-client")
    dobj.get_writer().put_content(data[:777])
    assert dobj.get_reader().read_all() == data[:777]
    assert [e.name for e in dflt.bucket("b").list_objects(prefix="default-").entries] == ["default-client"]
    dobj.delete()

    step("object delete; second delete raises ErrObjNotFound")
    resp = obj.delete()
    assert resp.status_code == 200, resp.status_code
    e = expect_raises(ErrObjNotFound, obj.delete, "second object delete")
    assert "ais://b/" in str(e), str(e)
    expect_raises(ErrObjNotFound, lambda: obj.get_reader().read_all(), "GET after delete")
    # A HEAD response has no body, so the SDK cannot see `ais://b/o` in a message and raises
    # the generic AISError (real AIS behaves the same); check the status instead.
    e = expect_raises(AISError, obj.head, "HEAD after delete")
    assert e.status_code == 404, e.status_code
    # Object.delete() has no missing_ok in this SDK (only Bucket.delete and the AuthN managers do).
    assert "missing_ok" not in obj.delete.__code__.co_varnames

    step("bucket delete, delete(missing_ok=True), second delete raises ErrBckNotFound")
    bck.delete()
    bck.delete(missing_ok=True)
    e = expect_raises(ErrBckNotFound, bck.delete, "second bucket delete")
    assert "ais://b" in str(e), str(e)
    expect_raises(ErrBckNotFound, lambda: bck.list_objects(), "list after delete")
    names = [b.name for b in cluster.list_buckets()]
    assert "b" not in names, names

    print("SDK acceptance test: OK", flush=True)


if __name__ == "__main__":
    main()
