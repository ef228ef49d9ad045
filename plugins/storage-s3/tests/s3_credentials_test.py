"""Where the plugin takes its credentials and region from, through the real engine (`sparkhost
run s3_copy_pipeline.yaml`) against moto with signature checks on: the shared credentials
file and profile (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE, the pipeline's profile
parameter), the config file's region (AWS_CONFIG_FILE), and the AWS SDKs' precedence
(environment keys before AWS_PROFILE's, a profile named in the pipeline before both). botocore
reads the same files as the reference for which keys and region a profile holds.

usage: s3_credentials_test.py COPY_PIPELINE_YAML. Needs SPARKHOST. Fails, never skips."""
import os
import subprocess
import sys
import tempfile

import boto3
import botocore.config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from moto_server import create_user, echo, note_secret, start_moto  # noqa: E402

PIPELINE = sys.argv[1]
SPARKHOST = os.environ["SPARKHOST"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def main():
    workdir = tempfile.mkdtemp(prefix="s3creds-")
    moto, port = start_moto(workdir)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        akid, secret = create_user(endpoint)
        note_secret(secret)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=akid, aws_secret_access_key=secret,
                          config=botocore.config.Config(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="bkt")
        wrong_secret = secret[::-1]
        note_secret(wrong_secret)
        credentials = os.path.join(workdir, "credentials")
        with open(credentials, "w") as f:
            f.write(f"[default]\naws_access_key_id = {akid}\n"
                    f"aws_secret_access_key = {wrong_secret}\n\n"
                    f"# the working profile\n[work]\naws_access_key_id = {akid}\n"
                    f"aws_secret_access_key={secret}\n")
        config = os.path.join(workdir, "config")
        with open(config, "w") as f:
            f.write("[default]\nregion = us-east-1\n[profile work]\nregion = eu-west-3\n"
                    "s3 =\n  addressing_style = path\n")
        with open(os.path.join(workdir, "in.bin"), "wb") as f:
            f.write(os.urandom(4096))
        data = open(os.path.join(workdir, "in.bin"), "rb").read()

        base = {k: v for k, v in os.environ.items()
                if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy")}
        base.update(S3_TEST_ENDPOINT=endpoint, S3_TEST_LOCAL_ROOT=workdir, S3_TEST_PROFILE="",
                    AWS_SHARED_CREDENTIALS_FILE=credentials, AWS_CONFIG_FILE=config,
                    HOME=workdir)

        # botocore's reading of the same files: the reference for what each profile holds.
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(base)
        try:
            work = boto3.Session(profile_name="work")
            work_creds = work.get_credentials()
            default = boto3.Session()
            default_region = default.region_name
            work_region = work.region_name
        finally:
            os.environ.clear()
            os.environ.update(saved)
        check(work_creds.access_key == akid and work_creds.secret_key == secret and
              work_region == "eu-west-3" and default_region == "us-east-1",
              "botocore reads the fixture files as intended")

        def copy(name, env, expect_ok):
            args = [SPARKHOST, "-v", "-v", "run", PIPELINE, "--input", "input=in.bin",
                    "--input", f"output=s3://bkt/{name}"]
            run = subprocess.run(args, capture_output=True, env=env, timeout=300)
            err = run.stderr.decode(errors="replace")
            echo(run.stdout.decode(errors="replace") + err)
            listed = [o["Key"] for o in s3.list_objects_v2(Bucket="bkt").get("Contents", [])]
            stored = name in listed and s3.get_object(Bucket="bkt", Key=name)["Body"].read()
            ok = run.returncode == 0 and stored == data if expect_ok else \
                run.returncode != 0 and name not in listed
            return ok, err

        hint = "..." + akid[-4:]
        ok, err = copy("profile.bin", dict(base, AWS_PROFILE="work"), True)
        check(ok and f"credentials from the shared credentials profile (key id {hint})" in err
              and f"region {work_region}," in err,
              "AWS_PROFILE=work: keys from the credentials file, region from the config file")

        ok, err = copy("default-wrong.bin", base, False)
        check(ok and "SignatureDoesNotMatch" in err,
              "no AWS_PROFILE: the default profile is used (its wrong secret is refused)")

        ok, err = copy("env-wins.bin", dict(base, AWS_ACCESS_KEY_ID=akid,
                                            AWS_SECRET_ACCESS_KEY=secret), True)
        check(ok and "credentials from the environment" in err,
              "environment keys are used before the default profile")
        ok, err = copy("env-beats-profile.bin",
                       dict(base, AWS_PROFILE="work", AWS_ACCESS_KEY_ID=akid,
                            AWS_SECRET_ACCESS_KEY=wrong_secret), False)
        check(ok and "credentials from the environment" in err and "SignatureDoesNotMatch" in err,
              "environment keys are used before AWS_PROFILE's (as in the SDKs)")
        ok, err = copy("explicit-profile.bin",
                       dict(base, S3_TEST_PROFILE="work", AWS_ACCESS_KEY_ID=akid,
                            AWS_SECRET_ACCESS_KEY=wrong_secret), True)
        check(ok and "credentials from the shared credentials profile" in err,
              "a profile named in the pipeline is used before the environment's keys")
        ok, err = copy("region-env.bin", dict(base, AWS_PROFILE="work",
                                              AWS_REGION="ap-south-1"), True)
        check(ok and "region ap-south-1," in err, "AWS_REGION is used before the profile's region")

        ok, err = copy("missing-profile.bin", dict(base, S3_TEST_PROFILE="nosuch"), False)
        check(ok and "profile 'nosuch'" in err and credentials in err and config in err,
              "a named profile that does not exist: the error names it and both files")
        os.unlink(credentials)
        ok, err = copy("no-credentials.bin", dict(base, AWS_PROFILE="work"), False)
        check(ok and "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set" in err and
              "profile 'work'" in err,
              "no keys anywhere: the error names the variables and the profile")
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
