"""A server on a network: refused without credentials unless told; with a credentials file,
requests signed by boto3, the AWS CLI and presigned URLs are checked as AWS checks them."""

from __future__ import annotations

import json
import os
import subprocess
import time
from urllib.parse import urlencode

import boto3
import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ServerProcess, http_request, redrive_binary

KEY = "AKIAEXAMPLEONE000001"
SECRET = "secret-of-key-one-0123456789"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REDRIVE_")}


def test_an_anonymous_server_refuses_a_network_address_and_says_why():
    run = subprocess.run(
        [str(redrive_binary()), "--in-memory", "--bind", "0.0.0.0:0"],
        capture_output=True, text=True, timeout=30, env=clean_env(),
    )
    assert run.returncode == 2, run
    assert run.stderr.strip() == (
        "redrive: refusing to listen on 0.0.0.0:0 without credentials: anyone who can reach it could read, "
        "change and delete every queue. Give --credentials FILE (docs/security.md), or "
        "--allow-anonymous-network to accept that."
    )


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    d = tmp_path_factory.mktemp("signed")
    creds = d / "credentials.toml"
    creds.write_text(
        f'[[keys]]\naccess_key_id = "{KEY}"\nsecret_access_key = "{SECRET}"\naccount_id = "111111111111"\n'
    )
    server = ServerProcess(args=["--credentials", str(creds)], log_dir=d).start()
    yield server
    server.stop()


def client(server, key=KEY, secret=SECRET, region="us-east-1"):
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=region).client(
        "sqs", endpoint_url=server.endpoint, config=Config(retries={"total_max_attempts": 1, "mode": "standard"})
    )


def error_code(call) -> str:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"]


def test_boto3_signed_with_the_right_secret_works_and_a_wrong_one_is_refused(signed):
    url = client(signed).create_queue(QueueName="sec-boto3")["QueueUrl"]
    assert url.endswith("/111111111111/sec-boto3")
    assert error_code(lambda: client(signed, secret="not-the-secret-0123456").list_queues()) == "SignatureDoesNotMatch"
    assert error_code(lambda: client(signed, key="AKIAUNKNOWNKEY000000").list_queues()) == "InvalidClientTokenId"
    assert error_code(lambda: client(signed, region="eu-west-1").list_queues()) == "SignatureDoesNotMatch"


def test_the_aws_cli_signs_its_requests_and_they_pass(signed):
    env = {**clean_env(), "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}
    aws = os.path.join(os.path.dirname(os.path.realpath(os.sys.executable)), "aws")
    run = subprocess.run(
        [aws, "--endpoint-url", signed.endpoint, "sqs", "create-queue", "--queue-name", "sec-cli"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["QueueUrl"].endswith("/111111111111/sec-cli")
    env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret-0123456789"
    run = subprocess.run(
        [aws, "--endpoint-url", signed.endpoint, "sqs", "list-queues"], capture_output=True, text=True, timeout=60, env=env
    )
    assert run.returncode != 0 and "SignatureDoesNotMatch" in run.stderr, run.stderr


def presigned(server, params: dict, expires: int = 300, secret: str = SECRET) -> str:
    request = AWSRequest(method="GET", url=f"{server.endpoint}/?{urlencode(params)}")
    SigV4QueryAuth(Credentials(KEY, secret), "sqs", "us-east-1", expires=expires).add_auth(request)
    return request.url


def test_a_presigned_url_works_until_it_expires_and_not_once_changed(signed):
    url = client(signed).create_queue(QueueName="sec-presigned")["QueueUrl"]
    send = {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "signed in the URL", "Version": "2012-11-05"}
    status, _, body = http_request("GET", presigned(signed, send))
    assert status == 200, body
    tampered = presigned(signed, send).replace("signed+in+the+URL", "changed").replace("signed%20in%20the%20URL", "changed")
    status, _, body = http_request("GET", tampered)
    assert status == 403 and b"SignatureDoesNotMatch" in body, body
    short = presigned(signed, send, expires=5)
    # The URL is signed at the real time; the server's manual clock stands still from its start,
    # so move it to 6 s past the signing, however long the suite has run.
    _, _, now = http_request("POST", f"{signed.endpoint}/_redrive/clock/advance?ms=0", data=b"")
    behind = int(time.time() * 1000) + 6000 - json.loads(now)["now_ms"]
    http_request("POST", f"{signed.endpoint}/_redrive/clock/advance?ms={max(behind, 0)}", data=b"")
    status, _, body = http_request("GET", short)
    assert status == 403 and b"Request has expired" in body, body
    got = client(signed).receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["signed in the URL"], "only the valid one was sent"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    run = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return cert, key


def test_tls_serves_https_that_boto3_verifies_and_signed_requests_pass_over_it(tmp_path, tls_files):
    cert, key = tls_files
    creds = tmp_path / "credentials.toml"
    creds.write_text(
        f'[[keys]]\naccess_key_id = "{KEY}"\nsecret_access_key = "{SECRET}"\naccount_id = "111111111111"\n'
    )
    server = ServerProcess(
        args=["--credentials", str(creds), "--tls-cert", str(cert), "--tls-key", str(key)], log_dir=tmp_path
    ).start()
    try:
        assert server.endpoint.startswith("https://127.0.0.1:")
        sqs = boto3.session.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1").client(
            "sqs", endpoint_url=server.endpoint, verify=str(cert)
        )
        url = sqs.create_queue(QueueName="over-tls")["QueueUrl"]
        assert url == f"{server.endpoint}/111111111111/over-tls", "queue URLs say https"
        sqs.send_message(QueueUrl=url, MessageBody="private")
        assert sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "private"
        # A client that does not trust the certificate refuses the server.
        untrusting = boto3.session.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1")
        with pytest.raises(Exception, match="(?i)certificate"):
            untrusting.client("sqs", endpoint_url=server.endpoint).list_queues()
        # Plain HTTP to the TLS port gets no answer.
        with pytest.raises(Exception):
            http_request("GET", server.endpoint.replace("https://", "http://") + "/health", timeout=5)
    finally:
        assert server.stop() == 0


def test_a_certificate_without_its_key_stops_the_start_with_a_clear_line(tls_files):
    cert, _ = tls_files
    run = subprocess.run(
        [str(redrive_binary()), "--in-memory", "--bind", "127.0.0.1:0", "--tls-cert", str(cert)],
        capture_output=True, text=True, timeout=30, env=clean_env(),
    )
    assert run.returncode == 2 and run.stderr.strip() == "redrive: give both --tls-cert and --tls-key, or neither"
    run = subprocess.run(
        [str(redrive_binary()), "--in-memory", "--bind", "127.0.0.1:0", "--tls-cert", str(cert), "--tls-key", str(cert)],
        capture_output=True, text=True, timeout=30, env=clean_env(),
    )
    assert run.returncode == 1 and "cannot read the TLS key" in run.stderr, run.stderr


def test_metrics_can_require_a_bearer_token(tmp_path):
    server = ServerProcess(args=["--metrics-token", "scrape-me-0123"], log_dir=tmp_path).start()
    try:
        status, headers, _ = http_request("GET", f"{server.endpoint}/metrics")
        assert status == 401 and headers.get("www-authenticate", headers.get("WWW-Authenticate")) == "Bearer"
        status, _, _ = http_request("GET", f"{server.endpoint}/metrics", headers={"Authorization": "Bearer wrong"})
        assert status == 401
        status, _, body = http_request(
            "GET", f"{server.endpoint}/metrics", headers={"Authorization": "Bearer scrape-me-0123"}
        )
        assert status == 200 and b"redrive_" in body
        status, _, _ = http_request("GET", f"{server.endpoint}/health")
        assert status == 200, "/health stays open"
    finally:
        assert server.stop() == 0


def test_each_accounts_queues_are_its_own_after_a_restart(tmp_path):
    """With keys of two accounts, a durable server restarted gives each account back its own
    queues and messages (they were restored into the configured account before)."""
    creds = tmp_path / "credentials.toml"
    creds.write_text(
        f'[[keys]]\naccess_key_id = "{KEY}"\nsecret_access_key = "{SECRET}"\naccount_id = "111111111111"\n'
        '[[keys]]\naccess_key_id = "AKIDSECONDACCOUNT001"\nsecret_access_key = "second-account-secret"\n'
        'account_id = "222222222222"\n'
    )
    args = ["--credentials", str(creds), "--data-dir", str(tmp_path / "data")]
    server = ServerProcess(args=args, in_memory=False, log_dir=tmp_path).start()
    try:
        first, second = client(server), client(server, "AKIDSECONDACCOUNT001", "second-account-secret")
        first.create_queue(QueueName="one")
        url = second.create_queue(QueueName="two")["QueueUrl"]
        second.send_message(QueueUrl=url, MessageBody="kept")
    finally:
        assert server.stop() == 0
    server = ServerProcess(args=args, in_memory=False, log_dir=tmp_path).start()
    try:
        first, second = client(server), client(server, "AKIDSECONDACCOUNT001", "second-account-secret")
        assert [u.rsplit("/", 2)[-2:] for u in first.list_queues()["QueueUrls"]] == [["111111111111", "one"]]
        urls = second.list_queues()["QueueUrls"]
        assert [u.rsplit("/", 2)[-2:] for u in urls] == [["222222222222", "two"]]
        assert [m["Body"] for m in second.receive_message(QueueUrl=urls[0])["Messages"]] == ["kept"]
    finally:
        server.stop()
