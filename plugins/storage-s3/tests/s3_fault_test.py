"""Faults: s3_client (through s3_client_tool) and the plugin (through `sparkhost run
s3_copy_pipeline.yaml`) talk to moto through fault_proxy.py, which injects 503 SlowDown,
connection resets, errors inside a 200 CompleteMultipartUpload, wrong ETags, corrupted
downloads, parts that always fail, and a stalled part while the job is cancelled. After each
case the bucket and its in-progress multipart uploads are listed in moto itself.

usage: s3_fault_test.py S3_CLIENT_TOOL COPY_PIPELINE_YAML. Needs SPARKHOST. Fails, never
skips."""
import hashlib
import os
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_proxy import FaultProxy, Rule  # noqa: E402
from moto_server import create_user, echo, note_secret, start_moto  # noqa: E402

TOOL, PIPELINE = sys.argv[1], sys.argv[2]
SPARKHOST = os.environ["SPARKHOST"]
MIB = 1 << 20
failures = []
full_stderr = [""]  # all of the last run's stderr (run() returns only its final line)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(args, env, timeout=300):
    result = subprocess.run(args, capture_output=True, env=env, timeout=timeout)
    out = result.stdout.decode(errors="replace")
    err = result.stderr.decode(errors="replace")
    echo(out + err)
    full_stderr[0] = err
    # The final error line alone: debug lines before it name codes too.
    last = err.strip().splitlines()[-1] if err.strip() else ""
    return result.returncode, out, last


def main():
    workdir = tempfile.mkdtemp(prefix="s3fault-")
    moto, moto_port = start_moto(workdir)
    proxy = FaultProxy(moto_port)
    try:
        akid, secret = create_user(f"http://127.0.0.1:{moto_port}")
        note_secret(secret)
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}",
                          region_name="us-east-1", aws_access_key_id=akid,
                          aws_secret_access_key=secret,
                          config=botocore.config.Config(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="bkt")

        def keys():
            return sorted(o["Key"] for o in
                          s3.list_objects_v2(Bucket="bkt").get("Contents", []))

        def open_uploads():
            return s3.list_multipart_uploads(Bucket="bkt").get("Uploads", [])

        def stored(key):
            return s3.get_object(Bucket="bkt", Key=key)["Body"].read()

        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy")}
        env.update(AWS_ACCESS_KEY_ID=akid, AWS_SECRET_ACCESS_KEY=secret, AWS_REGION="us-east-1",
                   AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}", S3_TOOL_ATTEMPTS="4",
                   S3_TOOL_THRESHOLD=str(6 * MIB), S3_TOOL_PART_SIZE=str(5 * MIB),
                   S3_TOOL_THREADS="2")
        small = os.path.join(workdir, "small.bin")
        with open(small, "wb") as f:
            f.write(os.urandom(100000))
        large = os.path.join(workdir, "large.bin")  # three parts: 5 + 5 + 1 MiB
        with open(large, "wb") as f:
            f.write(os.urandom(11 * MIB))
        small_data, large_data = open(small, "rb").read(), open(large, "rb").read()

        def put(key, path, rules, command="put"):
            proxy.reset(rules)
            return run([TOOL, command, "bkt", key, path], env)

        # 503 SlowDown twice, then success.
        rc, out, err = put("slowdown.bin", small, [Rule("PutObject", "slowdown", 2)])
        check(rc == 0 and proxy.attempts("PutObject") == [503, 503, 200] and
              stored("slowdown.bin") == small_data,
              f"503 SlowDown twice then success: attempts {proxy.attempts('PutObject')}")
        check("PutObject s3://bkt/slowdown.bin failed: HTTP 503 SlowDown" in full_stderr[0] and
              "attempt 3 of 4" in full_stderr[0], "the retries are logged with the S3 code")

        # A connection reset in the middle of a part's body: that part is sent again.
        rc, out, err = put("reset.bin", large, [Rule("UploadPart", "reset", 1, part=2)],
                           "putfile")
        check(rc == 0 and proxy.attempts("UploadPart", 2) == ["reset", 200] and
              stored("reset.bin") == large_data,
              f"connection reset mid-upload is retried: part 2 {proxy.attempts('UploadPart', 2)}")

        # An <Error> inside a 200 CompleteMultipartUpload is retried.
        rc, out, err = put("error200.bin", large, [Rule("CompleteMultipartUpload", "error200")])
        check(rc == 0 and proxy.attempts("CompleteMultipartUpload") == [200, 200] and
              stored("error200.bin") == large_data,
              "error inside a 200 CompleteMultipartUpload: detected and retried")

        # A wrong ETag on a part: detected, the part is sent again.
        rc, out, err = put("etag-once.bin", large, [Rule("UploadPart", "bad_etag", 1, part=3)])
        check(rc == 0 and len(proxy.attempts("UploadPart", 3)) == 2 and
              stored("etag-once.bin") == large_data,
              "a wrong part ETag is detected and the part sent again")

        # Nothing may be left after these failures.
        before = keys()
        cases = [
            ("part fails every retry", "always500.bin",
             [Rule("UploadPart", "fail500", None, part=2)], "InternalError",
             "UploadPart s3://bkt/always500.bin", "part 2 of 3"),
            ("wrong part ETag every time", "etag-always.bin",
             [Rule("UploadPart", "bad_etag", None, part=1)], "ETagMismatch",
             "UploadPart s3://bkt/etag-always.bin", "part 1 of 3"),
            ("error in every 200 CompleteMultipartUpload", "complete-fails.bin",
             [Rule("CompleteMultipartUpload", "error200", None)], "InternalError",
             "CompleteMultipartUpload s3://bkt/complete-fails.bin", "HTTP 200"),
        ]
        for what, key, rules, code, target, detail in cases:
            rc, out, err = put(key, large, rules)
            check(rc == 1 and code in err and target in err and detail in err,
                  f"{what}: the error names operation, object and {code}: "
                  f"{err}")
            check(proxy.attempts("AbortMultipartUpload") == [204],
                  f"{what}: the multipart upload is aborted")
            check(keys() == before and not open_uploads(),
                  f"{what}: nothing left in the bucket, no upload in progress")

        # Other 4xx are final: one attempt.
        rc, out, err = put("denied.bin", small, [Rule("PutObject", "deny", None)])
        check(rc == 1 and proxy.attempts("PutObject") == [403] and "AccessDenied" in err and
              "PutObject s3://bkt/denied.bin" in err, "403 AccessDenied is not retried")

        # Downloads: a wrong ETag header and a corrupted body are both detected.
        got = os.path.join(workdir, "got.bin")
        for command in ("get", "getto"):  # into a buffer, into memory sized by the response
            for action in ("bad_etag", "corrupt"):
                proxy.reset([Rule("GetObject", action, None)])
                rc, out, err = run([TOOL, command, "bkt", "slowdown.bin", got], env)
                check(rc == 1 and "GetObject s3://bkt/slowdown.bin failed: ETagMismatch" in err
                      and not os.path.exists(got),
                      f"{command} with {action}: detected, nothing written: {err}")
            # A 503 on the first attempt: retried, the data arrives whole.
            proxy.reset([Rule("GetObject", "slowdown", 1)])
            rc, out, err = run([TOOL, command, "bkt", "slowdown.bin", got], env)
            check(rc == 0 and open(got, "rb").read() == small_data and
                  proxy.attempts("GetObject") == [503, 200],
                  f"{command} after a 503 SlowDown: retried, the data is whole")
            os.unlink(got)

        # Cancellation through the engine: a copy job whose part 2 stalls runs past its
        # deadline (--timeout, the engine's cancellation path that Ctrl-C also takes); the
        # multipart upload is aborted and nothing is visible. (SIGTERM is not used: in the
        # sanitizer build, threads that exist before the CLI blocks its signals can take
        # the signal and end the process at once.)
        proxy.reset([Rule("UploadPart", "stall", None, part=2)])
        job_env = {k: v for k, v in env.items() if not k.startswith("S3_TOOL")}
        job_env.pop("AWS_ENDPOINT_URL")
        job_env.update(S3_TEST_ENDPOINT=f"http://127.0.0.1:{proxy.port}",
                       S3_TEST_LOCAL_ROOT=workdir, S3_TEST_PROFILE="")
        args = [SPARKHOST, "-v", "-v", "run", PIPELINE, "--input", "input=large.bin",
                "--input", "output=s3://bkt/cancelled.bin", "--timeout", "6"]
        job = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=job_env)
        stalled = proxy.stalled.wait(60)
        check(stalled, "the job reached the stalled part")
        started = time.monotonic()
        out, err = job.communicate(timeout=120)
        took = time.monotonic() - started
        err = err.decode(errors="replace")
        echo(out.decode(errors="replace") + err)
        proxy.release.set()
        check(job.returncode != 0 and
              "UploadPart s3://bkt/cancelled.bin: failed, HTTP 0 Cancelled" in err and
              "ran past its deadline" in err,
              f"the job past its deadline stops its transfer and fails (exit "
              f"{job.returncode}, {took:.1f} s after the part stalled)")
        check("AbortMultipartUpload s3://bkt/cancelled.bin: the incomplete upload was removed"
              in err, "the plugin reports the aborted upload")
        check(proxy.attempts("AbortMultipartUpload") == [204],
              "the cancelled job aborts its multipart upload")
        check("cancelled.bin" not in keys() and not open_uploads(),
              "after the cancellation nothing is in the bucket, no upload in progress")
    finally:
        proxy.close()
        moto.terminate()
        moto.wait(timeout=10)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
