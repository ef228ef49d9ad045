"""No secret, session token or signature in the logs: runs the S3 integration tests
(s3_moto_test, s3_pipeline_test, s3_fault_test, s3_credentials_test) with the engine at
debug log level and every line the client tool and the engine print echoed (S3_TEST_ECHO),
collects the secret keys and tokens they used (S3_TEST_SECRETS_FILE), and searches the
combined output for them and for signatures. Presigned URLs are outputs on purpose (the job
result, `presign`); they are cut out first, and their signatures must appear nowhere else.

usage: s3_log_secrets_test.py S3_CLIENT_TOOL S3_PIPELINE_YAML COPY_PIPELINE_YAML."""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL, PIPELINE, COPY_PIPELINE = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def main():
    secrets_file = tempfile.mktemp(prefix="s3secrets-")
    env = dict(os.environ, S3_TEST_ECHO="1", S3_TEST_SECRETS_FILE=secrets_file)
    runs = [("s3_moto_test.py", [TOOL]), ("s3_pipeline_test.py", [PIPELINE]),
            ("s3_fault_test.py", [TOOL, COPY_PIPELINE]),
            ("s3_credentials_test.py", [COPY_PIPELINE])]
    text = ""
    for script, args in runs:
        run = subprocess.run([sys.executable, os.path.join(HERE, script)] + args,
                             capture_output=True, env=env, timeout=500)
        output = run.stdout.decode(errors="replace") + run.stderr.decode(errors="replace")
        text += output
        check(run.returncode == 0, f"{script} passes at debug level")
    secrets = [s for s in open(secrets_file).read().split("\n") if s]
    os.unlink(secrets_file)
    check(len(secrets) >= 6, f"{len(secrets)} secrets and tokens collected")
    check("debug: node s3: PutObject s3://" in text and "UploadPart s3://" in text,
          "the output holds the plugin's debug lines (requests were logged)")
    for number, secret in enumerate(secrets, 1):
        check(secret not in text, f"secret or token #{number} is not in the output")
    url = re.compile(r"https?://[^\s'\"]*X-Amz-Signature=([0-9a-f]{64})[^\s'\"]*")
    presigned = set(url.findall(text))
    rest = url.sub("<presigned URL>", text)
    check(len(presigned) >= 3, f"{len(presigned)} presigned URLs (outputs) set aside")
    check("Signature=" not in rest and "AWS4-HMAC-SHA256" not in rest and
          "X-Amz-Credential" not in rest, "no Authorization header or signature field")
    leaked = [s for s in presigned if s in rest]
    check(not leaked, "no presigned URL's signature appears outside its URL")
    hex64 = re.findall(r"\b[0-9a-f]{64}\b", rest)
    check(not hex64, f"no 64-digit hex value (a signature or key) in the output: {hex64[:3]}")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
