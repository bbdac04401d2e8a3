"""Acceptance test: NVIDIA's Python SDK (`aistore`) over HTTPS against one aisle node started
with a certificate (run by node/tests/python_sdk.rs). Over HTTPS the SDK sends every request
with a body in two legs (the head alone to the "proxy", which must answer 307, then the whole
request to the target it names); the node is its own proxy.

Usage: sdk_https.py URL CA_FILE
"""

import os
import sys
import time

import requests

from sdkutil import step, sdk_client


def wait_ready(url, ca):
    deadline = time.time() + 20
    while True:
        try:
            if requests.get(f"{url}/v1/health", verify=ca, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.time() > deadline:
            raise AssertionError(f"node at {url} not ready")
        time.sleep(0.1)


def main(url, ca):
    wait_ready(url, ca)
    client = sdk_client(url, ca_cert=ca)
    b = client.bucket("tlsb")
    b.create()

    step("put_content over HTTPS (two legs), small and 3 MiB; read back")
    small, large = os.urandom(10_000), os.urandom(3 << 20)
    t0 = time.time()
    b.object("small").get_writer().put_content(small)
    b.object("large").get_writer().put_content(large)
    assert b.object("small").get_reader().read_all() == small
    assert b.object("large").get_reader().read_all() == large
    print(f"  two PUTs and two GETs in {time.time() - t0:.2f} s")

    step("put_file over HTTPS")
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"sdk-https-{os.getpid()}.bin")
    data = os.urandom(1 << 20)
    with open(path, "wb") as f:
        f.write(data)
    try:
        b.object("file").get_writer().put_file(path)
    finally:
        os.remove(path)
    assert b.object("file").get_reader().read_all() == data

    step("append_content then flush over HTTPS")
    w = b.object("appended").get_writer()
    h = w.append_content(b"hello ")
    h = w.append_content(b"world", handle=h)
    w.append_content(b"", handle=h, flush=True)
    assert b.object("appended").get_reader().read_all() == b"hello world"

    step("multipart upload over HTTPS: parts out of order, complete, read back")
    parts = [os.urandom(200_000) for _ in range(3)]
    mpu = b.object("mpu").multipart_upload()
    mpu.create()
    for i in (3, 1, 2):
        mpu.add_part(i).put_content(parts[i - 1])
    mpu.complete()
    assert b.object("mpu").get_reader().read_all() == b"".join(parts)

    step("listing shows each object once")
    names = sorted(e.name for e in b.list_all_objects())
    assert names == ["appended", "file", "large", "mpu", "small"], names
    print("SDK HTTPS test: OK")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
