"""moto in server mode on 127.0.0.1 with signature checks on (INITIAL_NO_AUTH_ACTION_COUNT;
the unauthenticated budget creates an IAM user with a policy and an access key, spec
io-plugins.md 1.11). Shared by the integration tests of this folder."""
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(workdir):
    port = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4")
    log = open(os.path.join(workdir, "moto.log"), "w")
    moto_server = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            break
        except urllib.error.HTTPError:
            break
        except OSError:
            time.sleep(0.05)
    return proc, port


def set_auth_checks(port, on):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset-auth",
                                     data=b"0" if on else b"1000000", method="POST",
                                     headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(request, timeout=10).read()


def create_user(endpoint):
    """Spend the unauthenticated budget on an IAM user allowed everything; its
    (access key id, secret access key)."""
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    policy = iam.create_policy(PolicyName="all", PolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",'
        '"Resource":"*"}]}'))["Policy"]["Arn"]
    iam.create_user(UserName="spark")
    iam.attach_user_policy(UserName="spark", PolicyArn=policy)
    key = iam.create_access_key(UserName="spark")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def note_secret(value):
    """Hands a secret to the log test (s3_log_secrets_test.py), which greps every S3 test's
    output for it; does nothing outside that test."""
    path = os.environ.get("S3_TEST_SECRETS_FILE")
    if path and value:
        with open(path, "a") as f:
            f.write(value + "\n")


def echo(text):
    """Prints what a tool or the engine said when the log test asks for it (S3_TEST_ECHO)."""
    if os.environ.get("S3_TEST_ECHO"):
        print(text, flush=True)
