"""Acceptance test: the native multipart upload through NVIDIA's Python SDK (`aistore`, pinned in
scripts/requirements-test.txt) against one aisle node.

Goal: `Object.multipart_upload()` works as against AIS: `create()` returns an upload id,
`add_part(n).put_content(bytes)` stores parts sent out of order (a repeated part number replaces
the earlier one), `complete()` makes the object the parts in number order (read back equal, with
its size), and `abort()` leaves nothing (the object does not exist, the upload id is gone).

Usage: python sdk_multipart.py http://127.0.0.1:PORT   (run by node/tests/python_sdk.rs)
"""

import sys

from aistore.sdk.errors import AISError, ErrObjNotFound
from sdkutil import step, expect_raises, sdk_client, content


def main():
    url = sys.argv[1]
    client = sdk_client(url)
    bck = client.bucket("mpt")
    bck.create(exist_ok=True)

    step("create, 5 parts sent out of order (part 3 twice), complete: read back equal")
    obj = bck.object("dir/big")
    parts = {n: content(n, 64 * 1024 + 7 * n) for n in range(1, 6)}
    mpu = obj.multipart_upload().create()
    assert mpu.upload_id, f"no upload id: {mpu.upload_id!r}"
    for n in [4, 2, 5]:
        mpu.add_part(n).put_content(parts[n])
    # Part 3 is sent twice: the second content must win.
    mpu.add_part(3).put_content(content(99, 1000))
    mpu.add_part(1).put_content(parts[1])
    mpu.add_part(3).put_content(parts[3])
    # `parts` of the SDK lists 3 twice; the completion asks for parts by number, so pass each once.
    mpu.parts = sorted(set(mpu.parts))
    resp = mpu.complete()
    assert resp.status_code == 200, resp.status_code
    want = b"".join(parts[n] for n in range(1, 6))
    got = obj.get_reader().read_all()
    assert got == want, f"read back {len(got)} bytes, want {len(want)}; equal prefix {next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))}"
    props = obj.head("size")
    assert props.size == len(want), props.size
    names = [e.name for e in bck.list_all_objects()]
    assert names.count("dir/big") == 1, names

    step("a range read of the completed object crosses part boundaries")
    start = len(parts[1]) - 10
    end = start + len(parts[2]) + 20
    got = obj.get_reader(byte_range=f"bytes={start}-{end - 1}").read_all()
    assert got == want[start:end], (len(got), end - start)

    step("the completed upload id is gone: another part is refused")
    e = expect_raises(AISError, lambda: mpu.add_part(6).put_content(b"late"), "part after complete")
    assert e.status_code == 404, e.status_code

    step("abort: nothing is left, the object does not exist, the upload id is gone")
    gone = bck.object("aborted")
    mpu2 = gone.multipart_upload().create()
    mpu2.add_part(2).put_content(content(7, 5000))
    mpu2.add_part(1).put_content(content(8, 5000))
    resp = mpu2.abort()
    assert resp.status_code == 200, resp.status_code
    # A HEAD answer has no body, so the SDK cannot tell the error class: AISError with 404.
    e = expect_raises(AISError, lambda: gone.head(), "HEAD after abort")
    assert e.status_code == 404, e.status_code
    expect_raises(ErrObjNotFound, lambda: gone.get_reader().read_all(), "GET after abort")
    e = expect_raises(AISError, lambda: mpu2.complete(), "complete after abort")
    assert e.status_code == 404, e.status_code
    names = [e.name for e in bck.list_all_objects()]
    assert "aborted" not in names, names

    step("abort of an upload over an existing object leaves the object as it was")
    keep = bck.object("kept")
    keep.get_writer().put_content(b"original content")
    mpu3 = keep.multipart_upload().create()
    mpu3.add_part(1).put_content(content(9, 3000))
    mpu3.abort()
    assert keep.get_reader().read_all() == b"original content"

    step("complete with a missing part is refused; the upload stays usable")
    obj4 = bck.object("gap")
    mpu4 = obj4.multipart_upload().create()
    mpu4.add_part(1).put_content(content(10, 2000))
    mpu4.add_part(3).put_content(content(12, 2000))
    e = expect_raises(AISError, lambda: mpu4.complete(), "complete with part 2 missing")
    assert e.status_code == 400, e.status_code
    e = expect_raises(AISError, lambda: obj4.head(), "HEAD after refused complete")
    assert e.status_code == 404, e.status_code
    mpu4.add_part(2).put_content(content(11, 2000))
    mpu4.complete()
    want4 = content(10, 2000) + content(11, 2000) + content(12, 2000)
    assert obj4.get_reader().read_all() == want4

    print("SDK multipart test: OK", flush=True)


if __name__ == "__main__":
    main()
