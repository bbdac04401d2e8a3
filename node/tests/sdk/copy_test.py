"""NVIDIA's Python SDK (`aistore`) against one aisle node: `Object.copy()` and the list-objects
flags (`ListObjectFlag`).

Goal: the SDK's copy (`PUT ?object_to=ais/@#/B2/dst`, empty body) creates the destination with
the source's bytes and checksum and leaves the source untouched; a missing destination bucket
or source raises the SDK's not-found errors and changes nothing. Listing with NO_RECURSION
returns the immediate children plus virtual directories (`a/b/`, flagged as directories), also
page by page, with or without NO_DIRS (AIS lists the virtual directories of ais:// buckets
whenever NO_RECURSION is set); NAME_ONLY returns names without sizes; ARCH_DIR is
refused (no archives on this node).

Usage: python copy_test.py http://127.0.0.1:PORT copy|list   (run by node/tests/python_sdk.rs)
"""

import sys

import xxhash

from aistore.sdk import ListObjectFlag
from aistore.sdk.errors import AISError, ErrBckNotFound, ErrObjNotFound
from sdkutil import step, content, expect_raises, sdk_client

# AIS's entry flag for a virtual directory (`apc.EntryIsDir`).
ENTRY_IS_DIR = 1 << 8


def copy_tests(client):
    b1 = client.bucket("copy-src")
    b2 = client.bucket("copy-dst")
    b1.create()
    b2.create()

    step("Object.copy() to another bucket: same bytes, size, checksum; source untouched")
    data = content(1, 2 * 1024 * 1024 + 3)
    src = b1.object("src")
    src.get_writer().put_content(data)
    src_props = src.head("size,checksum,version")
    want = xxhash.xxh64(data, seed=0).hexdigest()
    assert src_props.checksum_value == want, src_props.checksum_value

    resp = src.copy(b2.object("dir/dst"))
    assert resp.status_code == 200, resp.status_code
    got = b2.object("dir/dst").get_reader().read_all()
    assert got == data, f"copy: {len(got)} bytes, content differs"
    dst_props = b2.object("dir/dst").head("size,checksum,version")
    assert dst_props.size == len(data), dst_props.size
    assert dst_props.checksum_value == want, dst_props.checksum_value
    assert dst_props.obj_version == "1", dst_props.obj_version
    assert src.get_reader().read_all() == data, "source changed by the copy"
    assert src.head("size,checksum").checksum_value == want

    step("Object.copy() within the bucket, and over an existing object")
    src.copy(b1.object("twin"))
    assert b1.object("twin").get_reader().read_all() == data
    other = b1.object("other")
    other.get_writer().put_content(b"small")
    other.copy(b1.object("twin"))
    assert b1.object("twin").get_reader().read_all() == b"small", "copy did not replace"
    assert src.get_reader().read_all() == data

    step("Object.copy() to a missing bucket raises ErrBckNotFound; nothing changes")
    before = sorted(e.name for e in b1.list_all_objects())
    e = expect_raises(ErrBckNotFound, lambda: src.copy(client.bucket("no-such-bucket").object("x")), "copy")
    assert "no-such-bucket" in str(e), str(e)
    assert src.get_reader().read_all() == data, "source changed by a failed copy"
    assert src.head("size,checksum").checksum_value == want
    assert sorted(e.name for e in b1.list_all_objects()) == before

    step("Object.copy() of a missing object raises ErrObjNotFound")
    expect_raises(ErrObjNotFound, lambda: b1.object("nope").copy(b2.object("y")), "copy missing")
    assert [e.name for e in b2.list_all_objects()] == ["dir/dst"]


def names(entries):
    return [e.name for e in entries]


def listing_tests(client):
    bck = client.bucket("lsflags")
    bck.create()
    objs = ["img001", "vid001", "img-test/obj1", "img-test/vid1", "img-test/pics/obj01",
            "img003", "img-test/pics/vid01", "zz/deep/er/x"]
    for i, n in enumerate(objs):
        bck.object(n).get_writer().put_content(content(100 + i, 20 + i))

    nr = [ListObjectFlag.NO_RECURSION]
    step("NO_RECURSION: immediate children plus virtual directories (AIS's TestLsoNoRecursion)")
    top = bck.list_all_objects(flags=nr)
    assert names(top) == ["img-test/", "img001", "img003", "vid001", "zz/"], names(top)
    for e in top:
        is_dir = e.name.endswith("/")
        assert bool(e.flags & ENTRY_IS_DIR) == is_dir, (e.name, e.flags)
        if not is_dir:
            assert e.size == 20 + objs.index(e.name), (e.name, e.size)
    for prefix, want in [
        ("img-test", ["img-test/obj1", "img-test/pics/", "img-test/vid1"]),
        ("img-test/", ["img-test/obj1", "img-test/pics/", "img-test/vid1"]),
        ("img-test/pics", ["img-test/pics/obj01", "img-test/pics/vid01"]),
        ("img-test/pics/", ["img-test/pics/obj01", "img-test/pics/vid01"]),
        ("img", ["img-test/", "img001", "img003"]),
        ("zz/", ["zz/deep/"]),
        ("nothing/", []),
    ]:
        got = names(bck.list_all_objects(prefix=prefix, flags=nr))
        assert got == want, (prefix, got)

    step("NO_RECURSION paged (page_size 1 and 2): the same entries, no duplicates")
    for ps in (1, 2):
        got = names(bck.list_all_objects(flags=nr, page_size=ps))
        assert got == ["img-test/", "img001", "img003", "vid001", "zz/"], (ps, got)

    step("NO_RECURSION + NO_DIRS: as NO_RECURSION (AIS lists virtual dirs of ais:// buckets)")
    got = names(bck.list_all_objects(flags=nr + [ListObjectFlag.NO_DIRS]))
    assert got == ["img-test/", "img001", "img003", "vid001", "zz/"], got
    got = names(bck.list_all_objects(prefix="img-test/", flags=nr + [ListObjectFlag.NO_DIRS]))
    assert got == names(bck.list_all_objects(prefix="img-test/", flags=nr)), got

    step("recursive listing unchanged (with NO_DIRS too)")
    assert names(bck.list_all_objects()) == sorted(objs)
    assert names(bck.list_all_objects(flags=[ListObjectFlag.NO_DIRS])) == sorted(objs)

    step("NAME_ONLY: names, no sizes")
    entries = bck.list_all_objects(flags=[ListObjectFlag.NAME_ONLY], props="name,size")
    assert names(entries) == sorted(objs), names(entries)
    assert all(not e.size for e in entries), [(e.name, e.size) for e in entries]

    step("ARCH_DIR refused (501): no archive listing on this node")
    e = expect_raises(AISError, lambda: bck.list_objects(flags=[ListObjectFlag.ARCH_DIR]), "arch-dir")
    assert e.status_code == 501, e.status_code


def main():
    url = sys.argv[1]
    client = sdk_client(url)
    which = sys.argv[2] if len(sys.argv) > 2 else "all"
    if which in ("all", "copy"):
        copy_tests(client)
    if which in ("all", "list"):
        listing_tests(client)
    print("SDK copy/listing test: OK", flush=True)


if __name__ == "__main__":
    main()
