"""boto3 at its default settings against aisle-node's S3 API (path-style, endpoint .../s3).

Usage: boto3_test.py <node url> <case>; prints "boto3 <case>: OK" at the end. Every check is
an assert; any failure exits non-zero. Cases: buckets, objects, big, listing, copy, delete,
conditional, transfer (upload_file/download_file of 100 MiB, multipart both ways), the
multipart API: mpu (explicit flow), mpu_errors, mpu_list, part_copy, mpu_checksums (request
checksums in both encodings boto3 uses, parts read back by PartNumber); and for a node started with
S3 credentials (AISLE_S3_KEY / AISLE_S3_SECRET name the right ones): signed, checksums.
"""
import base64
import datetime
import hashlib
import io
import os
import sys

import boto3
import botocore
import botocore.config
from botocore.exceptions import ClientError

URL = sys.argv[1]
CASE = sys.argv[2]
KEY = os.environ.get("AISLE_S3_KEY", "any")
SECRET = os.environ.get("AISLE_S3_SECRET", "any")


def client(key=KEY, secret=SECRET):
    return boto3.client(
        "s3",
        endpoint_url=URL + "/s3",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )


s3 = client()


def code_of(fn, *a, **kw):
    """The S3 error code (and status) a call fails with."""
    try:
        fn(*a, **kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__} did not fail")


def md5(b):
    return '"' + hashlib.md5(b).hexdigest() + '"'


def case_buckets():
    s3.create_bucket(Bucket="bk1")
    s3.create_bucket(Bucket="bk2")
    assert code_of(s3.create_bucket, Bucket="bk1") == ("BucketAlreadyOwnedByYou", 409)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert names == ["bk1", "bk2"], names
    h = s3.head_bucket(Bucket="bk1")
    assert h["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    assert code_of(s3.head_bucket, Bucket="nope") == ("404", 404)
    loc = s3.get_bucket_location(Bucket="bk1")
    assert loc.get("LocationConstraint") in (None, ""), loc
    assert s3.get_bucket_versioning(Bucket="bk1").get("Status") == "Enabled"
    s3.put_bucket_versioning(Bucket="bk1", VersioningConfiguration={"Status": "Suspended"})
    assert "Status" not in s3.get_bucket_versioning(Bucket="bk1")
    s3.put_bucket_versioning(Bucket="bk1", VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket="bk1")["Status"] == "Enabled"
    s3.put_object(Bucket="bk1", Key="x", Body=b"x")
    assert code_of(s3.delete_bucket, Bucket="bk1") == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket="bk1", Key="x")
    s3.delete_bucket(Bucket="bk1")
    assert code_of(s3.delete_bucket, Bucket="bk1") == ("NoSuchBucket", 404)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["bk2"]
    assert code_of(s3.get_object, Bucket="nope", Key="k") == ("NoSuchBucket", 404)
    # Not implemented yet: a clear 501, not a wrong answer.
    assert code_of(s3.get_bucket_acl, Bucket="bk2") == ("NotImplemented", 501)


def case_objects():
    s3.create_bucket(Bucket="ob")
    keys = ["small", "dir/sub/with space+plus&amp<x>", "ü/ñ", "folder/"]
    for i, k in enumerate(keys):
        body = b"" if k.endswith("/") else os.urandom(1000 + i)
        r = s3.put_object(
            Bucket="ob",
            Key=k,
            Body=body,
            Metadata={"color": "blue", "Mixed-Case": "v"},
            ContentType="text/x-test",
        )
        assert r["ETag"] == md5(body), (k, r["ETag"])
        g = s3.get_object(Bucket="ob", Key=k)
        assert g["Body"].read() == body, k
        assert g["ETag"] == md5(body)
        assert g["ContentType"] == "text/x-test"
        assert g["Metadata"].get("color") == "blue", g["Metadata"]
        assert g["Metadata"].get("mixed-case") == "v", g["Metadata"]
        h = s3.head_object(Bucket="ob", Key=k)
        assert h["ContentLength"] == len(body)
        assert h["ETag"] == md5(body)
        assert isinstance(h["LastModified"], datetime.datetime)
    # A folder marker coexists with the keys under it.
    s3.put_object(Bucket="ob", Key="folder/inside", Body=b"in")
    assert s3.get_object(Bucket="ob", Key="folder/")["ContentLength"] == 0
    assert s3.get_object(Bucket="ob", Key="folder/inside")["Body"].read() == b"in"
    # `a` and `a/b`: a clear error, and the first stays.
    assert code_of(s3.put_object, Bucket="ob", Key="small/under", Body=b"u") == ("KeyConflict", 409)
    assert s3.head_object(Bucket="ob", Key="small")["ContentLength"] == 1000
    # Range
    body = s3.get_object(Bucket="ob", Key="small")["Body"].read()
    r = s3.get_object(Bucket="ob", Key="small", Range="bytes=100-199")
    assert r["ContentRange"] == "bytes 100-199/1000" and r["Body"].read() == body[100:200]
    r = s3.get_object(Bucket="ob", Key="small", Range="bytes=-10")
    assert r["Body"].read() == body[-10:]
    assert code_of(s3.get_object, Bucket="ob", Key="small", Range="bytes=5000-") == ("InvalidRange", 416)
    # Content-MD5: checked; a wrong one stores nothing.
    good = hashlib.md5(b"payload").digest()
    import base64
    s3.put_object(Bucket="ob", Key="md5", Body=b"payload", ContentMD5=base64.b64encode(good).decode())
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert code_of(s3.put_object, Bucket="ob", Key="md5", Body=b"changed", ContentMD5=bad) == ("BadDigest", 400)
    assert s3.get_object(Bucket="ob", Key="md5")["Body"].read() == b"payload"
    assert code_of(s3.put_object, Bucket="ob", Key="md5-new", Body=b"x", ContentMD5=bad) == ("BadDigest", 400)
    assert code_of(s3.head_object, Bucket="ob", Key="md5-new") == ("404", 404)
    # response-* parameters set this response's headers; nothing stored changes.
    g = s3.get_object(Bucket="ob", Key="small", ResponseContentType="application/x-over",
                      ResponseContentDisposition='attachment; filename="s.bin"',
                      ResponseCacheControl="no-store", ResponseContentLanguage="de")
    assert g["Body"].read() == body
    hh = g["ResponseMetadata"]["HTTPHeaders"]
    assert (hh["content-type"], hh["content-disposition"], hh["cache-control"], hh["content-language"]) == \
        ("application/x-over", 'attachment; filename="s.bin"', "no-store", "de"), hh
    h = s3.head_object(Bucket="ob", Key="small", ResponseContentEncoding="identity")
    assert h["ResponseMetadata"]["HTTPHeaders"]["content-encoding"] == "identity", h
    g = s3.get_object(Bucket="ob", Key="small")
    assert g["ContentType"] == "text/x-test" and "ContentDisposition" not in g, g
    # A value with CR/LF would split the response head: refused.
    assert http_error(URL + "/s3/ob/small?response-content-type=a%0D%0AX-Injected:%201") == \
        (400, "InvalidArgument")
    # Delete: S3 answers 204 whether or not the key existed.
    s3.delete_object(Bucket="ob", Key="md5")
    assert code_of(s3.get_object, Bucket="ob", Key="md5") == ("NoSuchKey", 404)
    s3.delete_object(Bucket="ob", Key="md5")


def case_big():
    s3.create_bucket(Bucket="big")
    data = os.urandom(50 << 20)
    r = s3.put_object(Bucket="big", Key="fifty", Body=data)
    assert r["ETag"] == md5(data)
    g = s3.get_object(Bucket="big", Key="fifty")
    got = g["Body"].read()
    assert len(got) == len(data) and got == data
    assert s3.head_object(Bucket="big", Key="fifty")["ContentLength"] == 50 << 20
    r = s3.get_object(Bucket="big", Key="fifty", Range=f"bytes={(30 << 20)}-{(30 << 20) + 99}")
    assert r["Body"].read() == data[30 << 20:(30 << 20) + 100]
    s3.delete_object(Bucket="big", Key="fifty")
    assert code_of(s3.head_object, Bucket="big", Key="fifty") == ("404", 404)


def case_listing():
    s3.create_bucket(Bucket="ls")
    keys = []
    for d in range(5):
        for i in range(500):
            keys.append(f"d{d}/o{i:04d}")
    keys.append("top&<odd> key")
    keys.append("d1/")  # folder marker
    keys.sort()
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda k: client().put_object(Bucket="ls", Key=k, Body=k.encode()), keys))
    # V2, paginated: every key once, in order, 1000 per page.
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="ls"))
    got = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert got == keys, (len(got), len(keys))
    assert [p["KeyCount"] for p in pages] == [1000, 1000, 502], [p["KeyCount"] for p in pages]
    assert [p["IsTruncated"] for p in pages] == [True, True, False]
    # Small pages with max-keys.
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="ls", Prefix="d3/", PaginationConfig={"PageSize": 70}))
    got = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert got == [k for k in keys if k.startswith("d3/")]
    # Delimiter: common prefixes; pages of common prefixes only.
    r = s3.list_objects_v2(Bucket="ls", Delimiter="/")
    assert [c["Prefix"] for c in r["CommonPrefixes"]] == [f"d{d}/" for d in range(5)]
    assert [o["Key"] for o in r["Contents"]] == ["top&<odd> key"]
    assert r["KeyCount"] == 6 and not r["IsTruncated"]
    seen = []
    for p in s3.get_paginator("list_objects_v2").paginate(Bucket="ls", Delimiter="/", PaginationConfig={"PageSize": 2}):
        assert p["KeyCount"] <= 2
        seen += [c["Prefix"] for c in p.get("CommonPrefixes", [])] + [o["Key"] for o in p.get("Contents", [])]
    assert sorted(seen) == sorted([f"d{d}/" for d in range(5)] + ["top&<odd> key"]), seen
    # The folder marker is a key under its prefix.
    r = s3.list_objects_v2(Bucket="ls", Prefix="d1/", MaxKeys=3)
    assert [o["Key"] for o in r["Contents"]] == ["d1/", "d1/o0000", "d1/o0001"]
    assert r["Contents"][1]["ETag"] == md5(b"d1/o0000") and r["Contents"][1]["Size"] == 8
    # start-after
    r = s3.list_objects_v2(Bucket="ls", StartAfter="d4/o0497")
    assert [o["Key"] for o in r["Contents"]] == ["d4/o0498", "d4/o0499", "top&<odd> key"]
    # V1 with marker, through the paginator (NextMarker / last key).
    pages = list(s3.get_paginator("list_objects").paginate(Bucket="ls", PaginationConfig={"PageSize": 900}))
    got = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert got == keys
    pages = list(s3.get_paginator("list_objects").paginate(Bucket="ls", Delimiter="/", PaginationConfig={"PageSize": 2}))
    seen = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert seen == [f"d{d}/" for d in range(5)], seen
    r = s3.list_objects(Bucket="ls", Marker="d4/o0498")
    assert [o["Key"] for o in r["Contents"]] == ["d4/o0499", "top&<odd> key"]
    assert code_of(s3.list_objects_v2, Bucket="nope") == ("NoSuchBucket", 404)


def case_copy():
    s3.create_bucket(Bucket="c1")
    s3.create_bucket(Bucket="c2")
    body = os.urandom(3000)
    s3.put_object(Bucket="c1", Key="src key+", Body=body, Metadata={"a": "1"}, ContentType="text/a")
    r = s3.copy_object(Bucket="c2", Key="dst", CopySource={"Bucket": "c1", "Key": "src key+"})
    assert r["CopyObjectResult"]["ETag"] == md5(body)
    g = s3.get_object(Bucket="c2", Key="dst")
    assert g["Body"].read() == body and g["Metadata"] == {"a": "1", "ais-cksum-type": "xxhash2", "ais-cksum-val": g["Metadata"]["ais-cksum-val"]}
    assert g["ContentType"] == "text/a"
    r = s3.copy_object(
        Bucket="c2", Key="dst2", CopySource="c1/src key+", MetadataDirective="REPLACE",
        Metadata={"b": "2"}, ContentType="text/b",
    )
    g = s3.get_object(Bucket="c2", Key="dst2")
    assert g["Body"].read() == body and g["Metadata"].get("b") == "2" and "a" not in g["Metadata"]
    assert g["ContentType"] == "text/b" and g["ETag"] == md5(body)
    # Onto itself: only with REPLACE.
    assert code_of(s3.copy_object, Bucket="c1", Key="src key+", CopySource={"Bucket": "c1", "Key": "src key+"}) == ("InvalidRequest", 400)
    s3.copy_object(Bucket="c1", Key="src key+", CopySource={"Bucket": "c1", "Key": "src key+"}, MetadataDirective="REPLACE", Metadata={"c": "3"})
    g = s3.head_object(Bucket="c1", Key="src key+")
    assert g["Metadata"].get("c") == "3" and "a" not in g["Metadata"] and g["ETag"] == md5(body)
    assert code_of(s3.copy_object, Bucket="c2", Key="x", CopySource={"Bucket": "c1", "Key": "missing"}) == ("NoSuchKey", 404)
    assert code_of(s3.copy_object, Bucket="c2", Key="x", CopySource={"Bucket": "c1", "Key": "src key+"}, CopySourceIfMatch='"nope"') == ("PreconditionFailed", 412)
    # versionId: "null" is the one version kept; any other is refused, never served from the
    # current object (GET, HEAD, copy) nor applied to it (DELETE).
    assert s3.get_object(Bucket="c1", Key="src key+", VersionId="null")["Body"].read() == body
    other = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    assert code_of(s3.get_object, Bucket="c1", Key="src key+", VersionId=other) == ("InvalidArgument", 400)
    assert code_of(s3.head_object, Bucket="c1", Key="src key+", VersionId=other) == ("400", 400)
    assert code_of(s3.copy_object, Bucket="c2", Key="v", CopySource={"Bucket": "c1", "Key": "src key+", "VersionId": other}) == ("InvalidArgument", 400)
    assert code_of(s3.head_object, Bucket="c2", Key="v") == ("404", 404)
    s3.copy_object(Bucket="c2", Key="v", CopySource={"Bucket": "c1", "Key": "src key+", "VersionId": "null"})
    assert s3.get_object(Bucket="c2", Key="v")["Body"].read() == body
    assert code_of(s3.delete_object, Bucket="c1", Key="src key+", VersionId=other) == ("InvalidArgument", 400)
    assert s3.get_object(Bucket="c1", Key="src key+")["Body"].read() == body


def case_delete():
    s3.create_bucket(Bucket="del")
    keys = [f"k{i}" for i in range(30)] + ["a&b<c>"]
    for k in keys:
        s3.put_object(Bucket="del", Key=k, Body=b"1")
    r = s3.delete_objects(Bucket="del", Delete={"Objects": [{"Key": k} for k in keys[:10]] + [{"Key": "never"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(keys[:10] + ["never"]), r
    assert not r.get("Errors")
    # A version this node does not keep is refused per key, and that key's object stays.
    r = s3.delete_objects(Bucket="del", Delete={"Objects": [{"Key": keys[10], "VersionId": "3HL4kqtJlcpXroDTDmJ"},
                                                           {"Key": keys[11], "VersionId": "null"}]})
    assert [(e["Key"], e["Code"]) for e in r["Errors"]] == [(keys[10], "InvalidArgument")], r
    assert [d["Key"] for d in r["Deleted"]] == [keys[11]], r
    assert s3.head_object(Bucket="del", Key=keys[10])["ContentLength"] == 1
    assert code_of(s3.head_object, Bucket="del", Key=keys[11]) == ("404", 404)
    r = s3.delete_objects(Bucket="del", Delete={"Objects": [{"Key": k} for k in keys[10:] if k != keys[11]], "Quiet": True})
    assert not r.get("Deleted") and not r.get("Errors"), r
    assert s3.list_objects_v2(Bucket="del")["KeyCount"] == 0


def case_conditional():
    s3.create_bucket(Bucket="cond")
    etag = s3.put_object(Bucket="cond", Key="k", Body=b"hello")["ETag"]
    lm = s3.head_object(Bucket="cond", Key="k")["LastModified"]
    assert s3.get_object(Bucket="cond", Key="k", IfMatch=etag)["Body"].read() == b"hello"
    assert code_of(s3.get_object, Bucket="cond", Key="k", IfMatch='"other"') == ("PreconditionFailed", 412)
    assert code_of(s3.get_object, Bucket="cond", Key="k", IfNoneMatch=etag) == ("304", 304)
    assert s3.get_object(Bucket="cond", Key="k", IfNoneMatch='"other"')["Body"].read() == b"hello"
    later = lm + datetime.timedelta(hours=1)
    earlier = lm - datetime.timedelta(hours=1)
    assert code_of(s3.get_object, Bucket="cond", Key="k", IfModifiedSince=later) == ("304", 304)
    assert s3.get_object(Bucket="cond", Key="k", IfModifiedSince=earlier)["Body"].read() == b"hello"
    assert code_of(s3.get_object, Bucket="cond", Key="k", IfUnmodifiedSince=earlier) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket="cond", Key="k", IfUnmodifiedSince=later)["Body"].read() == b"hello"
    assert code_of(s3.head_object, Bucket="cond", Key="k", IfNoneMatch=etag) == ("304", 304)
    # If-Match true wins over a false If-Unmodified-Since (RFC 9110 order, as S3).
    assert s3.get_object(Bucket="cond", Key="k", IfMatch=etag, IfUnmodifiedSince=earlier)["Body"].read() == b"hello"
    # Conditional writes: If-None-Match: * creates only (PutObject, with a checksum too, and
    # CompleteMultipartUpload); If-Match replaces only the object with that ETag.
    assert code_of(s3.put_object, Bucket="cond", Key="k", Body=b"other", IfNoneMatch="*") == ("PreconditionFailed", 412)
    assert code_of(s3.put_object, Bucket="cond", Key="k", Body=b"other", IfNoneMatch="*",
                   ChecksumAlgorithm="SHA256") == ("PreconditionFailed", 412)
    assert code_of(s3.put_object, Bucket="cond", Key="k", Body=b"other", IfMatch='"stale"') == ("PreconditionFailed", 412)
    assert code_of(s3.put_object, Bucket="cond", Key="missing", Body=b"other", IfMatch=etag) == ("NoSuchKey", 404)
    assert s3.get_object(Bucket="cond", Key="k")["Body"].read() == b"hello"
    assert s3.put_object(Bucket="cond", Key="k", Body=b"swapped", IfMatch=etag)["ETag"] == md5(b"swapped")
    assert code_of(s3.put_object, Bucket="cond", Key="k", Body=b"again", IfMatch=etag) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket="cond", Key="k")["Body"].read() == b"swapped"
    assert s3.put_object(Bucket="cond", Key="new", Body=b"n", IfNoneMatch="*")["ETag"] == md5(b"n")
    up = s3.create_multipart_upload(Bucket="cond", Key="new")["UploadId"]
    pe = s3.upload_part(Bucket="cond", Key="new", UploadId=up, PartNumber=1, Body=b"part")["ETag"]
    mpu = {"Parts": [{"PartNumber": 1, "ETag": pe}]}
    assert code_of(s3.complete_multipart_upload, Bucket="cond", Key="new", UploadId=up,
                   MultipartUpload=mpu, IfNoneMatch="*") == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket="cond", Key="new")["Body"].read() == b"n"
    s3.delete_object(Bucket="cond", Key="new")
    s3.complete_multipart_upload(Bucket="cond", Key="new", UploadId=up, MultipartUpload=mpu, IfNoneMatch="*")
    assert s3.get_object(Bucket="cond", Key="new")["Body"].read() == b"part"


def mpu_etag(parts):
    """S3's multipart ETag: md5 of the concatenated part MD5s, dash, the part count."""
    return '"' + hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f'-{len(parts)}"'


MiB = 1 << 20


def case_transfer():
    # upload_file/download_file of 100 MiB at the default TransferConfig: s3transfer goes
    # multipart (8 MiB parts, in parallel) up and ranged GETs in parallel down.
    s3.create_bucket(Bucket="tr")
    path = f"/tmp/aisle-s3-transfer-{os.getpid()}.bin"
    data = os.urandom(100 << 20)
    with open(path, "wb") as f:
        f.write(data)
    try:
        s3.upload_file(path, "tr", "hundred")
        h = s3.head_object(Bucket="tr", Key="hundred")
        parts = [data[i:i + 8 * MiB] for i in range(0, len(data), 8 * MiB)]
        assert len(parts) == 13
        assert h["ContentLength"] == len(data)
        assert h["ETag"] == mpu_etag(parts), (h["ETag"], mpu_etag(parts))
        s3.download_file("tr", "hundred", path + ".back")
        with open(path + ".back", "rb") as f:
            assert f.read() == data
        listed = s3.list_objects_v2(Bucket="tr")["Contents"]
        assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [("hundred", len(data), mpu_etag(parts))]
    finally:
        os.remove(path)
        if os.path.exists(path + ".back"):
            os.remove(path + ".back")


def case_mpu():
    # The explicit flow: create (metadata, Content-Type), parts out of order and one replaced,
    # list_parts (paged), complete with the ETags, the object and its multipart ETag.
    s3.create_bucket(Bucket="mp")
    key = "dir/multi part&<key>"
    up = s3.create_multipart_upload(Bucket="mp", Key=key, Metadata={"color": "green"}, ContentType="text/x-mpu")
    assert up["Bucket"] == "mp" and up["Key"] == key
    uid = up["UploadId"]
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 17), os.urandom(1234)]
    etags = {}
    for n in (3, 1, 2):
        r = s3.upload_part(Bucket="mp", Key=key, UploadId=uid, PartNumber=n, Body=parts[n - 1])
        assert r["ETag"] == md5(parts[n - 1]), (n, r["ETag"])
        etags[n] = r["ETag"]
    # A repeated part number replaces the earlier part.
    stale = os.urandom(5 * MiB)
    assert s3.upload_part(Bucket="mp", Key=key, UploadId=uid, PartNumber=2, Body=stale)["ETag"] == md5(stale)
    r = s3.upload_part(Bucket="mp", Key=key, UploadId=uid, PartNumber=2, Body=parts[1])
    assert r["ETag"] == etags[2]
    lp = s3.list_parts(Bucket="mp", Key=key, UploadId=uid)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in lp["Parts"]] == [
        (n, md5(parts[n - 1]), len(parts[n - 1])) for n in (1, 2, 3)
    ], lp["Parts"]
    assert not lp["IsTruncated"] and lp["UploadId"] == uid and lp["Key"] == key
    assert all(isinstance(p["LastModified"], datetime.datetime) for p in lp["Parts"])
    page = s3.list_parts(Bucket="mp", Key=key, UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2] and page["IsTruncated"]
    assert page["NextPartNumberMarker"] == 2
    page = s3.list_parts(Bucket="mp", Key=key, UploadId=uid, MaxParts=2, PartNumberMarker=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [3] and not page["IsTruncated"]
    got = [p["PartNumber"] for pg in s3.get_paginator("list_parts").paginate(
        Bucket="mp", Key=key, UploadId=uid, PaginationConfig={"PageSize": 1}) for p in pg["Parts"]]
    assert got == [1, 2, 3], got
    done = s3.complete_multipart_upload(
        Bucket="mp", Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]},
    )
    want = mpu_etag(parts)
    assert done["ETag"] == want, (done["ETag"], want)
    assert done["Key"] == key and done["Bucket"] == "mp"
    whole = b"".join(parts)
    g = s3.get_object(Bucket="mp", Key=key)
    assert g["Body"].read() == whole
    assert g["ETag"] == want and g["ContentType"] == "text/x-mpu"
    assert g["Metadata"].get("color") == "green", g["Metadata"]
    h = s3.head_object(Bucket="mp", Key=key)
    assert h["ContentLength"] == len(whole) and h["ETag"] == want
    r = s3.get_object(Bucket="mp", Key=key, Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}")
    assert r["Body"].read() == whole[5 * MiB - 10:5 * MiB + 10]
    assert s3.list_objects_v2(Bucket="mp")["Contents"][0]["ETag"] == want
    # The upload is gone once completed.
    assert code_of(s3.list_parts, Bucket="mp", Key=key, UploadId=uid) == ("NoSuchUpload", 404)
    assert code_of(s3.upload_part, Bucket="mp", Key=key, UploadId=uid, PartNumber=1, Body=b"x") == ("NoSuchUpload", 404)
    assert code_of(s3.abort_multipart_upload, Bucket="mp", Key=key, UploadId=uid) == ("NoSuchUpload", 404)
    # A single-part upload smaller than 5 MiB is fine (the last part may be small).
    uid = s3.create_multipart_upload(Bucket="mp", Key="one")["UploadId"]
    e = s3.upload_part(Bucket="mp", Key="one", UploadId=uid, PartNumber=1, Body=b"tiny")["ETag"]
    done = s3.complete_multipart_upload(Bucket="mp", Key="one", UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    assert done["ETag"] == mpu_etag([b"tiny"])
    assert s3.get_object(Bucket="mp", Key="one")["Body"].read() == b"tiny"


def case_mpu_errors():
    s3.create_bucket(Bucket="me")
    big, small = os.urandom(5 * MiB), os.urandom(1000)
    uid = s3.create_multipart_upload(Bucket="me", Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket="me", Key="k", UploadId=uid, PartNumber=1, Body=small)["ETag"]
    e2 = s3.upload_part(Bucket="me", Key="k", UploadId=uid, PartNumber=2, Body=small)["ETag"]

    def complete(parts):
        return code_of(s3.complete_multipart_upload, Bucket="me", Key="k", UploadId=uid,
                       MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]})

    # Parts < 5 MiB but the last: EntityTooSmall.
    assert complete([(1, e1), (2, e2)]) == ("EntityTooSmall", 400)
    # A wrong ETag, a part never uploaded: InvalidPart. Not ascending: InvalidPartOrder.
    assert complete([(1, md5(b"other")), (2, e2)]) == ("InvalidPart", 400)
    assert complete([(1, e1), (2, e2), (3, e2)]) == ("InvalidPart", 400)
    assert complete([(2, e2), (1, e1)]) == ("InvalidPartOrder", 400)
    assert complete([(1, e1), (1, e1)]) == ("InvalidPartOrder", 400)
    # Nothing was stored by the refusals; the upload goes on.
    assert code_of(s3.head_object, Bucket="me", Key="k") == ("404", 404)
    e1 = s3.upload_part(Bucket="me", Key="k", UploadId=uid, PartNumber=1, Body=big)["ETag"]
    done = s3.complete_multipart_upload(Bucket="me", Key="k", UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert done["ETag"] == mpu_etag([big, small])
    assert s3.get_object(Bucket="me", Key="k")["Body"].read() == big + small
    # Abort: the upload is gone (NoSuchUpload for every use of it); the object is untouched.
    uid = s3.create_multipart_upload(Bucket="me", Key="k")["UploadId"]
    s3.upload_part(Bucket="me", Key="k", UploadId=uid, PartNumber=1, Body=small)
    r = s3.abort_multipart_upload(Bucket="me", Key="k", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert code_of(s3.list_parts, Bucket="me", Key="k", UploadId=uid) == ("NoSuchUpload", 404)
    assert code_of(s3.upload_part, Bucket="me", Key="k", UploadId=uid, PartNumber=1, Body=b"x") == ("NoSuchUpload", 404)
    assert code_of(s3.complete_multipart_upload, Bucket="me", Key="k", UploadId=uid,
                   MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": md5(small)}]}) == ("NoSuchUpload", 404)
    assert code_of(s3.abort_multipart_upload, Bucket="me", Key="k", UploadId=uid) == ("NoSuchUpload", 404)
    assert s3.get_object(Bucket="me", Key="k")["Body"].read() == big + small
    # Unknown ids, bad part numbers, a missing bucket.
    assert code_of(s3.upload_part, Bucket="me", Key="k", UploadId="nosuchupload1", PartNumber=1, Body=b"x") == ("NoSuchUpload", 404)
    uid = s3.create_multipart_upload(Bucket="me", Key="k2")["UploadId"]
    assert code_of(s3.upload_part, Bucket="me", Key="k2", UploadId=uid, PartNumber=0, Body=b"x") == ("InvalidArgument", 400)
    assert code_of(s3.upload_part, Bucket="me", Key="k2", UploadId=uid, PartNumber=10001, Body=b"x") == ("InvalidArgument", 400)
    assert code_of(s3.create_multipart_upload, Bucket="nope", Key="k") == ("NoSuchBucket", 404)
    # An upload id belongs to its key.
    assert code_of(s3.list_parts, Bucket="me", Key="other", UploadId=uid) == ("NoSuchUpload", 404)
    s3.abort_multipart_upload(Bucket="me", Key="k2", UploadId=uid)


def case_mpu_list():
    s3.create_bucket(Bucket="ml")
    ids = {}
    for k in ["a/1", "a/2", "b", "a/1"]:
        ids.setdefault(k, []).append(s3.create_multipart_upload(Bucket="ml", Key=k)["UploadId"])
    r = s3.list_multipart_uploads(Bucket="ml")
    got = [(u["Key"], u["UploadId"]) for u in r["Uploads"]]
    assert [k for k, _ in got] == ["a/1", "a/1", "a/2", "b"], got
    assert sorted(i for k, i in got if k == "a/1") == sorted(ids["a/1"])
    assert all(isinstance(u["Initiated"], datetime.datetime) for u in r["Uploads"])
    assert not r["IsTruncated"]
    r = s3.list_multipart_uploads(Bucket="ml", Prefix="a/")
    assert [u["Key"] for u in r["Uploads"]] == ["a/1", "a/1", "a/2"]
    r = s3.list_multipart_uploads(Bucket="ml", Delimiter="/")
    assert [u["Key"] for u in r["Uploads"]] == ["b"]
    assert [c["Prefix"] for c in r["CommonPrefixes"]] == ["a/"]
    # Paged two at a time: every upload once.
    seen = []
    for p in s3.get_paginator("list_multipart_uploads").paginate(Bucket="ml", PaginationConfig={"PageSize": 2}):
        assert len(p.get("Uploads", [])) <= 2
        seen += [(u["Key"], u["UploadId"]) for u in p.get("Uploads", [])]
    assert sorted(seen) == sorted(got), (seen, got)
    # Completed and aborted uploads are no longer listed.
    s3.abort_multipart_upload(Bucket="ml", Key="b", UploadId=ids["b"][0])
    e = s3.upload_part(Bucket="ml", Key="a/2", UploadId=ids["a/2"][0], PartNumber=1, Body=b"z")["ETag"]
    s3.complete_multipart_upload(Bucket="ml", Key="a/2", UploadId=ids["a/2"][0],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    r = s3.list_multipart_uploads(Bucket="ml")
    assert [u["Key"] for u in r["Uploads"]] == ["a/1", "a/1"]
    assert code_of(s3.list_multipart_uploads, Bucket="nope") == ("NoSuchBucket", 404)


def case_part_copy():
    # UploadPartCopy from a monolithic and from a chunked (multipart) source, ranges across
    # the source's chunk boundaries, the whole of a small object; then the errors.
    s3.create_bucket(Bucket="pc")
    mono = os.urandom(7 * MiB)
    s3.put_object(Bucket="pc", Key="mono", Body=mono)
    cparts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(3 * MiB)]
    uid = s3.create_multipart_upload(Bucket="pc", Key="chunked")["UploadId"]
    es = [s3.upload_part(Bucket="pc", Key="chunked", UploadId=uid, PartNumber=i + 1, Body=b)["ETag"] for i, b in enumerate(cparts)]
    s3.complete_multipart_upload(Bucket="pc", Key="chunked", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(es)]})
    chunked = b"".join(cparts)
    small = b"small tail"
    s3.put_object(Bucket="pc", Key="small", Body=small)
    uid = s3.create_multipart_upload(Bucket="pc", Key="dst")["UploadId"]
    want = [
        chunked[4 * MiB:10 * MiB + 5],  # spans all three chunks of the source
        mono[1:5 * MiB + 2],
        small,
    ]
    r1 = s3.upload_part_copy(Bucket="pc", Key="dst", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": "pc", "Key": "chunked"}, CopySourceRange=f"bytes={4 * MiB}-{10 * MiB + 4}")
    r2 = s3.upload_part_copy(Bucket="pc", Key="dst", UploadId=uid, PartNumber=2,
                             CopySource="pc/mono", CopySourceRange=f"bytes=1-{5 * MiB + 1}")
    r3 = s3.upload_part_copy(Bucket="pc", Key="dst", UploadId=uid, PartNumber=3, CopySource="pc/small")
    etags = [r["CopyPartResult"]["ETag"] for r in (r1, r2, r3)]
    assert etags == [md5(w) for w in want], etags
    assert isinstance(r1["CopyPartResult"]["LastModified"], datetime.datetime)
    # Errors: a range past the source, a malformed range, a missing source, a failed condition.
    assert code_of(s3.upload_part_copy, Bucket="pc", Key="dst", UploadId=uid, PartNumber=4,
                   CopySource="pc/small", CopySourceRange="bytes=0-100") == ("InvalidRange", 416)
    assert code_of(s3.upload_part_copy, Bucket="pc", Key="dst", UploadId=uid, PartNumber=4,
                   CopySource="pc/small", CopySourceRange="bytes=5-1") == ("InvalidArgument", 400)
    assert code_of(s3.upload_part_copy, Bucket="pc", Key="dst", UploadId=uid, PartNumber=4,
                   CopySource="pc/missing") == ("NoSuchKey", 404)
    assert code_of(s3.upload_part_copy, Bucket="pc", Key="dst", UploadId=uid, PartNumber=4,
                   CopySource="pc/small", CopySourceIfMatch='"nope"') == ("PreconditionFailed", 412)
    assert code_of(s3.upload_part_copy, Bucket="pc", Key="dst", UploadId="nosuchupload1", PartNumber=1,
                   CopySource="pc/small") == ("NoSuchUpload", 404)
    assert [p["PartNumber"] for p in s3.list_parts(Bucket="pc", Key="dst", UploadId=uid)["Parts"]] == [1, 2, 3]
    done = s3.complete_multipart_upload(Bucket="pc", Key="dst", UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    assert done["ETag"] == mpu_etag(want)
    assert s3.get_object(Bucket="pc", Key="dst")["Body"].read() == b"".join(want)


def http_error(url, method="GET"):
    """The status and S3 error code of a plain (unsigned, urllib) request that must fail."""
    import urllib.error
    import urllib.request
    try:
        urllib.request.urlopen(urllib.request.Request(url, method=method))
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        code = body.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in body else ""
        return e.code, code
    raise AssertionError(f"{method} {url} did not fail")


def case_signed():
    import urllib.request
    import botocore.auth
    s3.create_bucket(Bucket="sg")
    data = os.urandom(70_000)
    assert s3.put_object(Bucket="sg", Key="k", Body=data)["ETag"] == md5(data)
    assert s3.get_object(Bucket="sg", Key="k")["Body"].read() == data
    assert s3.head_object(Bucket="sg", Key="k")["ContentLength"] == len(data)
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="sg")["Contents"]] == ["k"]
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["sg"]
    # A presigned GET (SigV4: botocore presigns with SigV2 unless told), fetched by urllib.
    v4 = boto3.client("s3", endpoint_url=URL + "/s3", aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                      region_name="us-east-1", config=botocore.config.Config(signature_version="s3v4"))
    url = v4.generate_presigned_url("get_object", Params={"Bucket": "sg", "Key": "k"}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url, url
    assert urllib.request.urlopen(url).read() == data
    # A presigned download link naming the file (response-content-disposition, signed too).
    url_named = v4.generate_presigned_url(
        "get_object", ExpiresIn=300,
        Params={"Bucket": "sg", "Key": "k", "ResponseContentDisposition": 'attachment; filename="k.bin"'})
    with urllib.request.urlopen(url_named) as r:
        assert r.read() == data
        assert r.headers["Content-Disposition"] == 'attachment; filename="k.bin"', r.headers
    assert http_error(url_named.replace("k.bin", "x.bin")) == (403, "SignatureDoesNotMatch")
    # SigV2 presigned URLs are refused with a clear error.
    v2 = s3.generate_presigned_url("get_object", Params={"Bucket": "sg", "Key": "k"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in v2, v2
    assert http_error(v2) == (400, "InvalidRequest")
    # Presigned an hour ago for 60 s: expired.
    real = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *a, **kw: real(*a, **kw) - datetime.timedelta(hours=1)
    try:
        old = v4.generate_presigned_url("get_object", Params={"Bucket": "sg", "Key": "k"}, ExpiresIn=60)
    finally:
        botocore.auth.get_current_datetime = real
    assert http_error(old) == (403, "AccessDenied"), http_error(old)
    # A presigned URL for one key does not open another.
    assert http_error(url.replace("/sg/k?", "/sg/other?")) == (403, "SignatureDoesNotMatch")
    # Unsigned requests are refused.
    assert http_error(URL + "/s3/sg/k") == (403, "AccessDenied")
    assert http_error(URL + "/s3/sg/unsigned", method="PUT") == (403, "AccessDenied")
    # A wrong secret, an unknown key.
    bad = client(secret=SECRET + "x")
    assert code_of(bad.get_object, Bucket="sg", Key="k") == ("SignatureDoesNotMatch", 403)
    assert code_of(bad.put_object, Bucket="sg", Key="w", Body=b"w") == ("SignatureDoesNotMatch", 403)
    assert code_of(bad.delete_object, Bucket="sg", Key="k") == ("SignatureDoesNotMatch", 403)
    assert code_of(client(key="NOSUCHKEY").list_buckets) == ("InvalidAccessKeyId", 403)
    # Nothing a refused request asked for happened.
    assert code_of(s3.head_object, Bucket="sg", Key="w") == ("404", 404)
    assert code_of(s3.head_object, Bucket="sg", Key="unsigned") == ("404", 404)
    assert s3.get_object(Bucket="sg", Key="k")["Body"].read() == data
    s3.delete_object(Bucket="sg", Key="k")
    assert s3.list_objects_v2(Bucket="sg")["KeyCount"] == 0
    s3.delete_bucket(Bucket="sg")


def b64_checksum(algo, data):
    import zlib
    if algo == "CRC32":
        return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    if algo == "SHA1":
        return base64.b64encode(hashlib.sha1(data).digest()).decode()
    if algo == "SHA256":
        return base64.b64encode(hashlib.sha256(data).digest()).decode()
    raise ValueError(algo)


def case_checksums():
    from botocore.compat import HAS_CRT
    s3.create_bucket(Bucket="cs")
    data = os.urandom(300_000)
    algos = ["CRC32", "SHA1", "SHA256"]
    # CRC32C and CRC64NVME need awscrt in botocore (not pinned): raw requests cover them
    # (s3_checksums.rs).
    if HAS_CRT:
        algos += ["CRC32C", "CRC64NVME"]
    print("algorithms:", algos, "HAS_CRT:", HAS_CRT)
    for a in algos:
        r = s3.put_object(Bucket="cs", Key=a, Body=data, ChecksumAlgorithm=a)
        field = "Checksum" + a
        want = r[field]
        if a in ("CRC32", "SHA1", "SHA256"):
            assert want == b64_checksum(a, data), (a, want)
        g = s3.get_object(Bucket="cs", Key=a, ChecksumMode="ENABLED")
        assert g[field] == want, (a, g)
        # botocore validates the body against the returned checksum as it is read.
        assert type(g["Body"]).__name__ == "StreamingChecksumBody", type(g["Body"])
        assert g["Body"].read() == data
        h = s3.head_object(Bucket="cs", Key=a, ChecksumMode="ENABLED")
        assert h[field] == want
        # boto3 asks for checksums by default (x-amz-checksum-mode); without it, none comes.
        plain = boto3.client("s3", endpoint_url=URL + "/s3", aws_access_key_id=KEY,
                             aws_secret_access_key=SECRET, region_name="us-east-1",
                             config=botocore.config.Config(response_checksum_validation="when_required"))
        assert field not in plain.get_object(Bucket="cs", Key=a), a
    # A wrong value given by the caller is sent as is: refused, nothing stored.
    wrong = b64_checksum("CRC32", b"other")
    assert code_of(s3.put_object, Bucket="cs", Key="wrong", Body=data, ChecksumCRC32=wrong) == ("BadDigest", 400)
    assert code_of(s3.head_object, Bucket="cs", Key="wrong") == ("404", 404)
    # ... and an existing object stays as it was.
    assert code_of(s3.put_object, Bucket="cs", Key="CRC32", Body=b"new", ChecksumCRC32=wrong) == ("BadDigest", 400)
    assert s3.get_object(Bucket="cs", Key="CRC32")["Body"].read() == data
    # A copy keeps the checksum.
    s3.copy_object(Bucket="cs", Key="copied", CopySource={"Bucket": "cs", "Key": "SHA256"})
    c = s3.get_object(Bucket="cs", Key="copied", ChecksumMode="ENABLED")
    assert c["ChecksumSHA256"] == b64_checksum("SHA256", data)
    assert c["Body"].read() == data


def tls_body_encoding(client):
    """Makes `client` send request checksums as botocore does over HTTPS: an aws-chunked body
    (STREAMING-UNSIGNED-PAYLOAD-TRAILER, Transfer-Encoding: chunked) with a trailing
    x-amz-checksum-*; over plain HTTP botocore puts the checksum in a header instead. The
    only thing changed is botocore's "is this TLS" choice of where the checksum goes."""
    def to_trailer(params, **_):
        algo = params.get("context", {}).get("checksum", {}).get("request_algorithm")
        if isinstance(algo, dict):
            algo["in"] = "trailer"
    for op in ("PutObject", "UploadPart"):
        client.meta.events.register(f"before-call.s3.{op}", to_trailer)
    return client


def case_mpu_checksums():
    # Multipart uploads with request checksums, as recent boto3 sends them by default
    # (request_checksum_calculation="when_supported": CRC32): upload_file of 20 MiB in 8 MiB
    # parts with aws-chunked bodies and trailing checksums, and with header checksums; explicit
    # upload_part with ChecksumAlgorithm echoes the part's checksum; a wrong checksum is
    # BadDigest and leaves no part; get_object/head_object with PartNumber return each part.
    s3.create_bucket(Bucket="mc")
    data = os.urandom(20 * MiB + 5)
    path = f"/tmp/aisle-s3-mpuck-{os.getpid()}.bin"
    with open(path, "wb") as f:
        f.write(data)
    parts = [data[i:i + 8 * MiB] for i in range(0, len(data), 8 * MiB)]
    trailer = tls_body_encoding(client())
    sent = []
    trailer.meta.events.register("before-send.s3.UploadPart",
                                 lambda request, **_: sent.append(dict(request.headers)))
    try:
        for c, key in ((trailer, "chunked"), (s3, "header")):
            c.upload_file(path, "mc", key)
            h = c.head_object(Bucket="mc", Key=key)
            assert h["ContentLength"] == len(data) and h["ETag"] == mpu_etag(parts), (key, h)
            assert c.get_object(Bucket="mc", Key=key)["Body"].read() == data, key
    finally:
        os.remove(path)
    # The trailer client really sent aws-chunked parts.
    assert len(sent) == 3, len(sent)
    for hd in sent:
        hd = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in hd.items()}
        assert "aws-chunked" in hd.get("content-encoding", ""), hd
        assert hd.get("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", hd
        assert hd.get("x-amz-trailer") == "x-amz-checksum-crc32", hd

    # Explicit parts, both encodings: the checksum comes back; a wrong one stores nothing.
    for c, key in ((trailer, "explicit-chunked"), (s3, "explicit-header")):
        uid = c.create_multipart_upload(Bucket="mc", Key=key)["UploadId"]
        p1, p2 = os.urandom(5 * MiB), os.urandom(4321)
        r1 = c.upload_part(Bucket="mc", Key=key, UploadId=uid, PartNumber=1, Body=p1, ChecksumAlgorithm="CRC32")
        assert r1["ETag"] == md5(p1), r1
        assert r1["ChecksumCRC32"] == b64_checksum("CRC32", p1), r1
        r2 = c.upload_part(Bucket="mc", Key=key, UploadId=uid, PartNumber=2, Body=p2, ChecksumAlgorithm="SHA256")
        assert r2["ChecksumSHA256"] == b64_checksum("SHA256", p2), r2
        wrong = b64_checksum("CRC32", b"other")
        assert code_of(c.upload_part, Bucket="mc", Key=key, UploadId=uid, PartNumber=3, Body=p2,
                       ChecksumCRC32=wrong) == ("BadDigest", 400)
        assert code_of(c.upload_part, Bucket="mc", Key=key, UploadId=uid, PartNumber=1, Body=p2,
                       ChecksumCRC32=wrong) == ("BadDigest", 400)
        listed = c.list_parts(Bucket="mc", Key=key, UploadId=uid)["Parts"]
        assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
            (1, md5(p1), len(p1)), (2, md5(p2), len(p2))], listed
        c.complete_multipart_upload(Bucket="mc", Key=key, UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": r1["ETag"]}, {"PartNumber": 2, "ETag": r2["ETag"]}]})
        assert c.get_object(Bucket="mc", Key=key)["Body"].read() == p1 + p2

    # One part at a time.
    for n, p in enumerate(parts, 1):
        g = s3.get_object(Bucket="mc", Key="chunked", PartNumber=n)
        assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert g["PartsCount"] == 3 and g["ContentLength"] == len(p), g
        start = (n - 1) * 8 * MiB
        assert g["ContentRange"] == f"bytes {start}-{start + len(p) - 1}/{len(data)}", g["ContentRange"]
        assert g["Body"].read() == p, n
        h = s3.head_object(Bucket="mc", Key="chunked", PartNumber=n)
        assert h["PartsCount"] == 3 and h["ContentLength"] == len(p), h
        assert h["ETag"] == mpu_etag(parts)
    assert code_of(s3.get_object, Bucket="mc", Key="chunked", PartNumber=4) == ("InvalidPartNumber", 416)
    assert code_of(s3.head_object, Bucket="mc", Key="chunked", PartNumber=4)[1] == 416
    s3.put_object(Bucket="mc", Key="single", Body=b"one part")
    g = s3.get_object(Bucket="mc", Key="single", PartNumber=1)
    assert g["Body"].read() == b"one part" and "PartsCount" not in g, g
    assert code_of(s3.get_object, Bucket="mc", Key="single", PartNumber=2) == ("InvalidPartNumber", 416)


globals()["case_" + CASE]()
print(f"boto3 {CASE}: OK")
