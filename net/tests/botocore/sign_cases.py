"""Signs fixed S3 requests with botocore (the signer boto3 and the AWS CLI use) and prints
them as JSON for net/tests/sigv4_botocore.rs to verify with net::sigv4.

Every request is signed at 2026-01-02T03:04:05Z with access key AKIDBOTOCORE; the Rust side
verifies at the same instant (and at given offsets for presigned expiry). Usage: python
sign_cases.py > cases.json. Exits non-zero if botocore is missing.
"""

import base64
import datetime
import io
import json
import sys
from unittest import mock
from urllib.parse import quote, urlsplit

import botocore
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha256Checksum

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5)
CREDS = Credentials("AKIDBOTOCORE", "botocore/secret+key")
HOST = "127.0.0.1:51080"


def url(path, query=""):
    return f"http://{HOST}{path}" + (f"?{query}" if query else "")


def key_path(bucket, key):
    # What botocore's serializer puts on the wire for a key: quote with '/' and '~' safe.
    return f"/{bucket}/" + quote(key, safe="/~")


def emit(name, req, body=b"", offsets=(0,), expect="ok"):
    parts = urlsplit(req.url)
    headers = [[k, v if isinstance(v, str) else v.decode()] for k, v in req.headers.items()]
    # The HTTP client adds Host from the URL; botocore signs that value.
    headers.insert(0, ["Host", HOST])
    return {
        "name": name,
        "method": req.method,
        "path": parts.path,
        "query": parts.query,
        "headers": headers,
        "body_b64": base64.b64encode(body).decode(),
        "offsets": list(offsets),
        "expect": expect,
    }


def signed(method, path, query="", headers=None, body=b"", context=None):
    req = AWSRequest(method=method, url=url(path, query), headers=headers or {}, data=body)
    req.context.update(context or {})
    S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(req)
    return req


def presigned(method, path, query="", expires=3600, headers=None):
    req = AWSRequest(method=method, url=url(path, query), headers=headers or {})
    S3SigV4QueryAuth(CREDS, "s3", "us-east-1", expires=expires).add_auth(req)
    return req


def chunked_body(data, checksum_cls, name, chunk_size):
    return AwsChunkedWrapper(
        io.BytesIO(data), checksum_cls=checksum_cls, checksum_name=name, chunk_size=chunk_size
    ).read()


def main():
    cases = []
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW):
        cases.append(emit("get object", signed("GET", "/bucket/key")))
        odd = "a key+with$odd&chars=~ü/x y.txt"
        cases.append(emit("put odd key", signed("PUT", key_path("bucket", odd), body=b"data",
                                                headers={"Content-Type": "text/plain"}),
                          body=b"data"))
        cases.append(emit("list v2", signed(
            "GET", "/bucket", "list-type=2&prefix=a%2Fb&delimiter=%2F&encoding-type=url")))
        cases.append(emit("subresource", signed("GET", "/bucket", "versioning")))
        cases.append(emit("multipart part", signed(
            "PUT", "/bucket/big", "partNumber=3&uploadId=abc%2Bdef%3D%3D", body=b"part"),
            body=b"part"))
        cases.append(emit("meta with blanks", signed(
            "PUT", "/bucket/m", headers={"x-amz-meta-note": "  two   spaces\there  ",
                                         "x-amz-meta-other": "v"}, body=b"")))
        cases.append(emit("date header", signed(
            "HEAD", "/bucket/key", headers={"Date": "Thu, 01 Jan 2026 00:00:00 GMT"})))
        cases.append(emit("presigned get", presigned("GET", key_path("bucket", odd)),
                          offsets=(0, 3600)))
        cases.append(emit("presigned get expired", presigned("GET", "/bucket/key"),
                          offsets=(3601,), expect="Expired"))
        cases.append(emit("presigned put with query",
                          presigned("PUT", "/bucket/up", "partNumber=1&uploadId=x", 604800),
                          offsets=(604800,)))
        data = bytes(range(256)) * 40
        for cls, name in [(Crc32Checksum, "x-amz-checksum-crc32"),
                          (Sha256Checksum, "x-amz-checksum-sha256")]:
            body = chunked_body(data, cls, name, 4096)
            req = signed(
                "PUT", "/bucket/chunked", body=body,
                headers={"Content-Encoding": "aws-chunked", "X-Amz-Trailer": name,
                         "X-Amz-Decoded-Content-Length": str(len(data))},
                context={"checksum": {"request_algorithm": {"in": "trailer", "name": name}}})
            case = emit(f"unsigned trailer {name}", req, body=body)
            case["decoded_b64"] = base64.b64encode(data).decode()
            cases.append(case)
    json.dump({"botocore": botocore.__version__, "cases": cases}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
