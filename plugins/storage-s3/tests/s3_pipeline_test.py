"""Integration: the real engine (`$SPARKHOST run`) runs s3_pipeline.yaml, reading its input
from and writing its output to moto through org.sparkhost.storage.s3, moto started as in
s3_moto_test.py (moto_server.py, signature checks on). Checks the object with boto3 and
ffprobe, that the result's url is a working presigned GET, that a failing job leaves no
object, and that nothing the engine printed holds the secret key or the session token.

usage: s3_pipeline_test.py PIPELINE_YAML. Needs SPARKHOST. Fails (never skips)."""
import json
import os
import subprocess
import sys
import tempfile

import boto3
import botocore.config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from moto_server import (create_user, echo, note_secret, set_auth_checks,  # noqa: E402
                         start_moto)

PIPELINE = sys.argv[1]
SPARKHOST = os.environ["SPARKHOST"]
failures = []
outputs = []  # everything the engine printed


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def sparkhost(args, env):
    # At debug level for the log test (s3_log_secrets_test.py sets S3_TEST_ECHO).
    verbose = ["-v", "-v"] if os.environ.get("S3_TEST_ECHO") else []
    run = subprocess.run([SPARKHOST] + verbose + ["run", PIPELINE] + args, capture_output=True,
                         env=env, timeout=300)
    out, err = run.stdout.decode(errors="replace"), run.stderr.decode(errors="replace")
    outputs.append(out + err)
    echo(out + err)
    print(f"sparkhost run {' '.join(args)} -> {run.returncode}\n  stderr: {err.strip()}",
          flush=True)
    return run.returncode, out, err


def keys(s3):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket="bkt").get("Contents", []))


def main():
    workdir = tempfile.mkdtemp(prefix="s3pipe-")
    proc, port = start_moto(workdir)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        akid, secret = create_user(endpoint)
        note_secret(secret)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=akid, aws_secret_access_key=secret,
                          config=botocore.config.Config(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="bkt")
        wav = os.path.join(workdir, "in.wav")
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                        "sine=frequency=440:sample_rate=44100:duration=1.5", "-ac", "2", wav],
                       check=True)
        s3.upload_file(wav, "bkt", "in/voice.wav")
        s3.put_object(Bucket="bkt", Key="in/bad.wav", Body=b"this is not audio" * 10)

        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
            env.pop(name, None)
        env.update(S3_TEST_ENDPOINT=endpoint, S3_TEST_ACCESS_KEY_ID=akid,
                   S3_TEST_SECRET_ACCESS_KEY=secret)

        # The job: s3:// in, s3:// out, signatures checked by moto.
        rc, out, err = sparkhost(["--input", "input=s3://bkt/in/voice.wav",
                                  "-o", "s3://bkt/out/voice.wav", "--input", "format=wav",
                                  "--json"], env)
        check(rc == 0, "pipeline job through S3 succeeds")
        result = {}
        try:
            result = json.loads(out)
        except ValueError:
            pass
        check(result.get("sample_rate") == 16000 and result.get("channels") == 1,
              f"job result says 16 kHz mono: {result}")
        check("out/voice.wav" in keys(s3), "the output object exists in the bucket")
        got = os.path.join(workdir, "out.wav")
        body = b""
        if "out/voice.wav" in keys(s3):
            obj = s3.get_object(Bucket="bkt", Key="out/voice.wav")
            body = obj["Body"].read()
            with open(got, "wb") as f:
                f.write(body)
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                                "stream=sample_rate,channels", "-of", "json", got],
                               capture_output=True)
        streams = json.loads(probe.stdout or b"{}").get("streams", [{}])
        check(probe.returncode == 0 and streams and
              streams[0].get("sample_rate") == "16000" and streams[0].get("channels") == 1,
              f"ffprobe of the stored object: 16 kHz mono ({streams})")

        # The result's url: a presigned GET (moto checks only Authorization headers, so
        # checks are off for the plain curl, as in s3_moto_test.py).
        url = result.get("url", "")
        check(url.startswith(endpoint + "/bkt/out/voice.wav?") and "X-Amz-Signature=" in url
              and "X-Amz-Expires=900" in url, f"result url is presigned: {url}")
        set_auth_checks(port, False)
        fetched = subprocess.run(["curl", "-sf", url], capture_output=True)
        set_auth_checks(port, True)
        check(fetched.returncode == 0 and body and fetched.stdout == body,
              "the presigned GET returns the stored object")

        # A failing job (input not audio) leaves no object; so does a missing input.
        before = keys(s3)
        rc, out, err = sparkhost(["--input", "input=s3://bkt/in/bad.wav",
                                  "-o", "s3://bkt/out/bad.wav"], env)
        check(rc == 4 and keys(s3) == before and "out/bad.wav" not in keys(s3),
              "a job with bad input fails and leaves no object")
        rc, out, err = sparkhost(["--input", "input=s3://bkt/in/missing.wav",
                                  "-o", "s3://bkt/out/missing.wav"], env)
        check(rc == 4 and "NoSuchKey" in err and "s3://bkt/in/missing.wav" in err and
              keys(s3) == before, "a missing input: clear NoSuchKey error, no object")

        # A session token moto does not know: refused, and neither secret nor token shown.
        token = "FwoGZXIvYXdzEXAMPLEsessionTOKEN0123456789abcdef"
        note_secret(token)
        rc, out, err = sparkhost(["--input", "input=s3://bkt/in/voice.wav",
                                  "-o", "s3://bkt/out/token.wav"],
                                 dict(env, AWS_SESSION_TOKEN=token))
        check(rc == 4 and "out/token.wav" not in keys(s3),
              "an unknown session token is refused and writes nothing")

        # Credentials missing: the error names the variables, never a value.
        bare = dict(env, S3_TEST_ACCESS_KEY_ID="", S3_TEST_SECRET_ACCESS_KEY="")
        rc, out, err = sparkhost(["--input", "input=s3://bkt/in/voice.wav"], bare)
        check(rc != 0 and "AWS_SECRET_ACCESS_KEY" in err and "AWS_ACCESS_KEY_ID" in err,
              "no credentials: the error names the variables")

        uploads = s3.list_multipart_uploads(Bucket="bkt").get("Uploads", [])
        check(not uploads, "no multipart upload left open")
        text = "\n".join(outputs)
        check(secret not in text, "engine output holds no secret key")
        check(token not in text, "engine output holds no session token")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
