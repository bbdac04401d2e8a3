"""The AWS CLI (v1) and s3cmd against aisle-node, each unmodified.

Usage: clients_test.py <node url> awscli|s3cmd (credentials from AISLE_S3_KEY/AISLE_S3_SECRET
when the node has some). awscli talks to <url>/s3; s3cmd cannot put a
path in front of the bucket, so it talks to a node started with --s3-at-root. Prints
"<tool>: OK" at the end; every check is an assert.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

URL = sys.argv[1]
TOOL = sys.argv[2]
# The node's S3 credentials, when it was started with some (any values otherwise).
KEY = os.environ.get("AISLE_S3_KEY", "any")
SECRET = os.environ.get("AISLE_S3_SECRET", "any")
# The node requires SigV4 (started with keys): unsigned requests are refused.
SIGNED = "AISLE_S3_KEY" in os.environ
BIN = os.path.dirname(sys.executable)


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p.stdout


def make_tree(root):
    """A folder tree: nested dirs, a name with a space, an empty file, 1 MiB of random data."""
    files = {
        "a.txt": b"alpha\n",
        "empty": b"",
        "sub/b.bin": os.urandom(1 << 20),
        "sub/deeper/c d.txt": b"with space\n",
        "sub/deeper/e.txt": b"e" * 5000,
        "z/y/x/w.txt": b"deep\n",
    }
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return files


def tree_of(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def awscli():
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    aws = [os.path.join(BIN, "aws"), "--endpoint-url", URL + "/s3"]
    run(aws + ["s3", "mb", "s3://cli"], env)
    assert "cli" in run(aws + ["s3", "ls"], env)
    work = tempfile.mkdtemp(prefix="aisle-awscli-")
    try:
        src = os.path.join(work, "src")
        files = make_tree(src)
        # cp one file up and back down
        run(aws + ["s3", "cp", os.path.join(src, "sub/b.bin"), "s3://cli/one/b.bin"], env)
        run(aws + ["s3", "cp", "s3://cli/one/b.bin", os.path.join(work, "b.back")], env)
        with open(os.path.join(work, "b.back"), "rb") as f:
            assert f.read() == files["sub/b.bin"]
        # a file over the CLI's multipart threshold (8 MiB): multipart up (3 parts of 8 MiB),
        # ranged down
        big = os.urandom(20 << 20)
        with open(os.path.join(work, "big.bin"), "wb") as f:
            f.write(big)
        run(aws + ["s3", "cp", os.path.join(work, "big.bin"), "s3://cli/big.bin"], env)
        head = json.loads(run(aws + ["s3api", "head-object", "--bucket", "cli", "--key", "big.bin"], env))
        assert head["ContentLength"] == len(big) and head["ETag"].endswith('-3"'), head
        run(aws + ["s3", "cp", "s3://cli/big.bin", os.path.join(work, "big.back")], env)
        with open(os.path.join(work, "big.back"), "rb") as f:
            assert f.read() == big
        # sync the tree up, list it, sync it down into a new folder
        run(aws + ["s3", "sync", src, "s3://cli/tree"], env)
        ls = run(aws + ["s3", "ls", "--recursive", "s3://cli/tree/"], env)
        listed = sorted(line.split(None, 3)[3] for line in ls.splitlines() if line.strip())
        assert listed == sorted("tree/" + k for k in files), listed
        top = run(aws + ["s3", "ls", "s3://cli/tree/"], env)
        assert "PRE sub/" in top and "PRE z/" in top and "a.txt" in top, top
        dst = os.path.join(work, "dst")
        run(aws + ["s3", "sync", "s3://cli/tree", dst], env)
        assert tree_of(dst) == files
        # a second sync uploads nothing; a changed file goes up again
        out = run(aws + ["s3", "sync", src, "s3://cli/tree"], env)
        assert "upload:" not in out, out
        with open(os.path.join(src, "a.txt"), "wb") as f:
            f.write(b"alpha changed, longer\n")
        out = run(aws + ["s3", "sync", src, "s3://cli/tree"], env)
        assert "upload:" in out and "a.txt" in out, out
        run(aws + ["s3", "rm", "--recursive", "s3://cli/"], env)
        run(aws + ["s3", "rb", "s3://cli"], env)
        assert "cli" not in run(aws + ["s3", "ls"], env).split()
    finally:
        shutil.rmtree(work)


def s3cmd():
    host = URL.split("://", 1)[1]
    work = tempfile.mkdtemp(prefix="aisle-s3cmd-")
    cfg = os.path.join(work, "s3cfg")
    with open(cfg, "w") as f:
        f.write(f"""[default]
access_key = {KEY}
secret_key = {SECRET}
host_base = {host}
host_bucket = {host}
use_https = False
signature_v2 = False
bucket_location = us-east-1
check_ssl_certificate = False
""")
    s3c = [os.path.join(BIN, "s3cmd"), "-c", cfg]
    try:
        src = os.path.join(work, "src")
        files = make_tree(src)
        run(s3c + ["mb", "s3://scmd"])
        # put checks the ETag against its own MD5
        run(s3c + ["put", os.path.join(src, "sub/b.bin"), "s3://scmd/one/b.bin"])
        run(s3c + ["get", "s3://scmd/one/b.bin", os.path.join(work, "b.back")])
        with open(os.path.join(work, "b.back"), "rb") as f:
            assert f.read() == files["sub/b.bin"]
        # over s3cmd's multipart chunk size (15 MiB): a multipart put of 2 parts
        big = os.urandom(20 << 20)
        with open(os.path.join(work, "big.bin"), "wb") as f:
            f.write(big)
        run(s3c + ["put", os.path.join(work, "big.bin"), "s3://scmd/big.bin"])
        run(s3c + ["get", "s3://scmd/big.bin", os.path.join(work, "big.back")])
        with open(os.path.join(work, "big.back"), "rb") as f:
            assert f.read() == big
        # (s3cmd info shows the MD5 it kept in its own metadata; the ETag tells multipart).
        # An unsigned HEAD: only where the node takes unsigned requests (the run without keys).
        if not SIGNED:
            req = urllib.request.Request(URL + "/scmd/big.bin", method="HEAD")
            with urllib.request.urlopen(req) as r:
                etag = r.headers["ETag"]
            assert etag.endswith('-2"'), etag
        ls = run(s3c + ["ls", "s3://scmd/"])
        assert "DIR" in ls and "s3://scmd/one/" in ls, ls
        run(s3c + ["sync", src + "/", "s3://scmd/tree/"])
        la = run(s3c + ["ls", "--recursive", "s3://scmd/tree/"])
        listed = sorted(line.split("s3://scmd/", 1)[1] for line in la.splitlines() if "s3://" in line)
        assert listed == sorted("tree/" + k for k in files), listed
        dst = os.path.join(work, "dst")
        os.makedirs(dst)
        run(s3c + ["sync", "s3://scmd/tree/", dst + "/"])
        assert tree_of(dst) == files
        out = run(s3c + ["sync", src + "/", "s3://scmd/tree/"])
        assert "upload:" not in out, out
        run(s3c + ["del", "--recursive", "--force", "s3://scmd/"])
        run(s3c + ["rb", "s3://scmd"])
    finally:
        shutil.rmtree(work)


{"awscli": awscli, "s3cmd": s3cmd}[TOOL]()
print(f"{TOOL}: OK")
