"""Acceptance test: jobs (AIS xactions) through NVIDIA's Python SDK (`aistore`) against one
aisle node.

Modes (run by node/tests/python_sdk.rs):
  api URL          the SDK's job calls with no job running: `get_details()` of a kind parses the
                   node's empty answer, `list_jobs_status()`/`list_running_jobs()` are empty, a
                   status of an unknown id and a start of a kind the node cannot run raise the
                   node's errors (404, 501).
  models URL FILE  FILE holds what the node renders for a finished, an aborted and a running job
                   (`{"snaps": <qryxstats answer>, "status": [<status answer>...]}`), made from
                   registry entries by the test; the SDK's models parse it and read it as AIS's.
  resilver URL     `client.job(job_kind="resilver").start()`, `client.job(id).wait()` and
                   `.get_details()` end to end (needs the resilver job).
"""

import json
import sys
from datetime import datetime, timezone

from dateutil.parser import isoparse

from aistore.sdk.errors import AISError
from aistore.sdk.types import AggregatedJobSnap, JobStatus
from aistore.sdk.wait_result import WaitResult
from sdkutil import step, expect_raises, sdk_client, content


def api(url):
    client = sdk_client(url)
    step("get_details() of a kind with no job: an empty list from this node")
    details = client.job(job_kind="resilver").get_details()
    assert isinstance(details, AggregatedJobSnap), type(details)
    assert details.list_snapshots() == [], details
    assert len(details.root) == 1, details.root

    step("list_jobs_status / list_running_jobs: empty")
    assert client.cluster().list_jobs_status() == [], "no jobs yet"
    assert client.cluster().list_running_jobs() == [], "none running"

    step("status of an unknown job id: 404")
    e = expect_raises(AISError, lambda: client.job(job_id="Nope12345x").status(), "unknown id")
    assert e.status_code == 404, e.status_code

    step("start of a kind the node cannot run: 501 with AIS's words")
    e = expect_raises(AISError, lambda: client.job(job_kind="lru").start(), "start lru")
    assert e.status_code == 501, e.status_code
    assert "operation not supported" in str(e), str(e)

    step("abort by kind with nothing running: no error")
    client.job(job_kind="resilver").abort()
    print("SDK jobs api test: OK")


def models(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    snaps = AggregatedJobSnap.model_validate(data["snaps"])
    by_id = {s.id: s for s in snaps.list_snapshots()}
    assert len(by_id) == 3, by_id

    step("a finished job: counters, times, not aborted, done for WaitResult")
    fin = by_id[data["finished"]]
    assert fin.kind == "resilver", fin
    assert fin.stats.objects == 2 and fin.stats.bytes == 4196, fin.stats
    assert not fin.aborted and fin.is_idle, fin
    assert isoparse(fin.end_time) >= isoparse(fin.start_time)
    assert isoparse(fin.end_time).tzinfo is not None
    assert fin.bucket is not None and fin.bucket.name == "", fin.bucket
    one = AggregatedJobSnap.model_validate({"t1": [fin.model_dump(by_alias=True)]})
    assert one.any_finished() and one.all_idle() and not one.any_aborted()
    res = WaitResult.from_snapshots(fin.id, [fin])
    assert res.success, res

    step("an aborted job: aborted with its reason, WaitResult not a success")
    ab = by_id[data["aborted"]]
    assert ab.aborted and ab.abort_err == "stopped by the user", ab
    assert ab.bucket.name == "b" and ab.bucket.provider == "ais", ab.bucket
    res = WaitResult.from_snapshots(ab.id, [ab])
    assert not res.success, res

    step("a running job: zero end time, not idle, not finished")
    run = by_id[data["running"]]
    assert run.end_time == "0001-01-01T00:00:00Z", run.end_time
    assert not run.is_idle and not run.aborted
    one = AggregatedJobSnap.model_validate({"t1": [run.model_dump(by_alias=True)]})
    assert not one.any_finished() and not one.all_idle()

    step("status answers parse as JobStatus; end time is ns since the epoch")
    sts = {s.uuid: s for s in (JobStatus.model_validate(x) for x in data["status"])}
    assert sts[fin.id].end_time > 0 and not sts[fin.id].aborted and sts[fin.id].err == ""
    end = datetime.fromtimestamp(sts[fin.id].end_time / 1e9, tz=timezone.utc)
    assert abs((end - isoparse(fin.end_time)).total_seconds()) < 1, (end, fin.end_time)
    assert sts[ab.id].aborted and sts[ab.id].err == "stopped by the user"
    assert sts[run.id].end_time == 0
    print("SDK jobs models test: OK")


def resilver(url):
    client = sdk_client(url)
    bck = client.bucket("rs")
    bck.create(exist_ok=True)
    for i in range(30):
        bck.object(f"o{i}").get_writer().put_content(content(i, 500))

    step("job(job_kind='resilver').start() answers a job id")
    job_id = client.job(job_kind="resilver").start()
    assert job_id and len(job_id) >= 9, job_id

    step("job(job_id).wait() resolves the kind and returns success")
    res = client.job(job_id=job_id).wait(timeout=120, verbose=False)
    assert res.success, res
    assert res.end_time is not None, res

    step("get_details(): one finished resilver snapshot of this node")
    snaps = client.job(job_id=job_id).get_details().list_snapshots()
    assert len(snaps) == 1, snaps
    s = snaps[0]
    assert s.id == job_id and s.kind == "resilver", s
    assert not s.aborted and s.end_time != "0001-01-01T00:00:00Z", s
    assert client.job(job_id=job_id).get_total_time() is not None
    assert client.job(job_id=job_id).status().end_time > 0
    for i in range(30):
        assert bck.object(f"o{i}").get_reader().read_all() == content(i, 500), i
    print("SDK jobs resilver test: OK")


def main():
    mode, url = sys.argv[2], sys.argv[1]
    if mode == "api":
        api(url)
    elif mode == "models":
        models(sys.argv[3])
    elif mode == "resilver":
        resilver(url)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
