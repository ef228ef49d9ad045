"""A 100 MB object round trip through the plugin and the real engine against moto (signature
checks on): `sparkhost run s3_copy_pipeline.yaml` copies a local file to s3:// (multipart
from the spool file) and back; the SHA-256 of the source, of the object as boto3 reads it,
and of the copy back must match. Also 100 MB through the client alone from a file
(s3_client_tool putfile), whose peak memory must stay far below the object's size. Peak
resident memory (VmHWM) of each run is compared with the same run on a 1 kB object (the
baseline: the program, its libraries and, in a sanitizer build, the sanitizer's memory).

usage: s3_large_test.py S3_CLIENT_TOOL COPY_PIPELINE_YAML. Needs SPARKHOST. Label slow."""
import hashlib
import os
import subprocess
import sys
import tempfile
import time

import boto3
import botocore.config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from moto_server import create_user, echo, note_secret, start_moto  # noqa: E402

TOOL, PIPELINE = sys.argv[1], sys.argv[2]
SPARKHOST = os.environ["SPARKHOST"]
SIZE = 100 * 1000 * 1000
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run_rss(args, env):
    """(exit status, stderr, seconds, peak resident MB) of one run. The peak is the
    process's own VmHWM, sampled from /proc every 10 ms until it exits (it only grows, and
    the peaks come mid-run); wait4's ru_maxrss would also count this Python process, whose
    pages the child holds between fork and exec."""
    start = time.monotonic()
    peak_kb = 0
    with open(os.devnull, "wb") as devnull, tempfile.TemporaryFile() as errfile:
        proc = subprocess.Popen(args, env=env, stdout=devnull, stderr=errfile)
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            peak_kb = max(peak_kb, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.01)
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
    echo(err)
    return proc.returncode, err, time.monotonic() - start, peak_kb / 1024.0


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main():
    workdir = tempfile.mkdtemp(prefix="s3large-")
    moto, port = start_moto(workdir)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        akid, secret = create_user(endpoint)
        note_secret(secret)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=akid, aws_secret_access_key=secret,
                          config=botocore.config.Config(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="bkt")
        source = os.path.join(workdir, "big.bin")
        with open(source, "wb") as f:
            for _ in range(SIZE // 1000000):
                f.write(os.urandom(1000000))
        source_sha = sha256_of(source)
        with open(os.path.join(workdir, "tiny.bin"), "wb") as f:
            f.write(os.urandom(1000))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy")}
        env.update(AWS_ACCESS_KEY_ID=akid, AWS_SECRET_ACCESS_KEY=secret, AWS_REGION="us-east-1",
                   S3_TEST_ENDPOINT=endpoint, S3_TEST_LOCAL_ROOT=workdir, S3_TEST_PROFILE="")
        # In a sanitizer build, freed memory waits in a quarantine (256 MB by default) and
        # would count as resident; keep it small so the peaks measure the plugin.
        env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                     "quarantine_size_mb=8"]))

        rc, err, _, up_base = run_rss([SPARKHOST, "run", PIPELINE, "--input", "input=tiny.bin",
                                       "--input", "output=s3://bkt/tiny.bin"], env)
        rc, err, _, down_base = run_rss([SPARKHOST, "run", PIPELINE, "--input",
                                         "input=s3://bkt/tiny.bin", "--input",
                                         "output=tiny.back"], env)
        check(rc == 0, f"baselines: 1 kB up {up_base:.0f} MB, down {down_base:.0f} MB peak RSS")
        rc, err, up_s, up_mb = run_rss([SPARKHOST, "run", PIPELINE, "--input", "input=big.bin",
                                        "--input", "output=s3://bkt/big.bin"], env)
        check(rc == 0, f"100 MB upload through the engine ({up_s:.1f} s, "
                       f"{SIZE / up_s / 1e6:.1f} MB/s, peak RSS {up_mb:.0f} MB)")
        # The fetch node holds the blob (100 MB); the writer must not hold a second copy.
        check(up_mb - up_base < 1.45 * SIZE / 1e6,
              f"upload peak RSS {up_mb - up_base:.0f} MB over the baseline < 145 MB: the "
              f"object is spooled, not copied")
        obj = s3.get_object(Bucket="bkt", Key="big.bin")
        digest = hashlib.sha256()
        for chunk in iter(lambda: obj["Body"].read(1 << 20), b""):
            digest.update(chunk)
        check(digest.hexdigest() == source_sha and obj["ContentLength"] == SIZE,
              "the object in moto has the source's SHA-256 and length")
        # S3's multipart ETag: MD5 of the parts' binary MD5s, "-", the part count (5 MiB parts).
        part_md5s = b""
        with open(source, "rb") as f:
            for part in iter(lambda: f.read(5 << 20), b""):
                part_md5s += hashlib.md5(part).digest()
        expected_etag = f'"{hashlib.md5(part_md5s).hexdigest()}-{len(part_md5s) // 16}"'
        check(obj["ETag"] == expected_etag,
              f"uploaded in 5 MiB parts: ETag {obj['ETag']} == {expected_etag}")

        rc, err, down_s, down_mb = run_rss([SPARKHOST, "run", PIPELINE, "--input",
                                            "input=s3://bkt/big.bin", "--input",
                                            "output=back.bin"], env)
        back = os.path.join(workdir, "back.bin")
        check(rc == 0 and os.path.exists(back) and sha256_of(back) == source_sha,
              f"100 MB download through the engine, SHA-256 matches ({down_s:.1f} s, "
              f"{SIZE / down_s / 1e6:.1f} MB/s, peak RSS {down_mb:.0f} MB)")
        check(down_mb - down_base < 1.45 * SIZE / 1e6,
              f"download peak RSS {down_mb - down_base:.0f} MB over the baseline < 145 MB: "
              f"read straight into the blob")

        tool_env = dict(env, AWS_ENDPOINT_URL=endpoint, S3_TOOL_THRESHOLD=str(16 << 20),
                        S3_TOOL_PART_SIZE=str(5 << 20),
                        S3_TOOL_THREADS="4")
        rc, err, _, tool_base = run_rss([TOOL, "putfile", "bkt", "tiny-tool.bin",
                                         os.path.join(workdir, "tiny.bin")], tool_env)
        rc, err, tool_s, tool_mb = run_rss([TOOL, "putfile", "bkt", "tool.bin", source],
                                           tool_env)
        check(rc == 0 and s3.head_object(Bucket="bkt", Key="tool.bin")["ContentLength"] == SIZE,
              f"100 MB putfile by the client ({tool_s:.1f} s, peak RSS {tool_mb:.0f} MB)")
        check(tool_mb - tool_base < 0.7 * SIZE / 1e6,
              f"client peak RSS {tool_mb - tool_base:.0f} MB over the baseline "
              f"({tool_base:.0f} MB) < 70 MB: parts are read from the file")
        check(not s3.list_multipart_uploads(Bucket="bkt").get("Uploads", []),
              "no multipart upload left open")
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
