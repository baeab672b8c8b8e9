"""The server process itself: start-up line, health check, manual clock, flags and SIGTERM."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config

from conftest import ServerProcess, http_request


def client_for(endpoint: str, region: str = "us-east-1"):
    return boto3.session.Session(
        aws_access_key_id="AKIDREDRIVETEST", aws_secret_access_key="redrive-test-secret", region_name=region
    ).client("sqs", endpoint_url=endpoint, config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def test_listening_line_health_and_sigterm(tmp_path):
    server = ServerProcess(log_dir=tmp_path).start()
    try:
        assert server.first_line.strip() == f"redrive listening on http://127.0.0.1:{server.port}"
        assert server.port > 0
        status, _, _ = http_request("GET", f"{server.endpoint}/health")
        assert status == 200
    finally:
        code = server.stop()
    assert code == 0, f"SIGTERM should stop redrive with exit code 0, got {code}; log:\n{server.log_tail()}"


def test_manual_clock_moves_only_when_advanced(redrive):
    t1 = redrive.advance(0.001)
    t2 = redrive.advance(10)
    assert t2 - t1 == 10_000
    t3 = redrive.advance(0.5)
    assert t3 - t2 == 500


def test_clock_endpoint_answers_json(redrive):
    status, headers, body = redrive.http("POST", "/_redrive/clock/advance?ms=1000", data=b"")
    assert status == 200
    assert isinstance(json.loads(body)["now_ms"], int)


def test_region_account_and_public_url_flags(tmp_path):
    server = ServerProcess(
        args=["--region", "eu-west-1", "--account-id", "123456789012", "--public-url", "http://sqs.example.test:9999"],
        log_dir=tmp_path,
    ).start()
    try:
        sqs = client_for(server.endpoint, region="eu-west-1")
        url = sqs.create_queue(QueueName="flags-queue")["QueueUrl"]
        assert url == "http://sqs.example.test:9999/123456789012/flags-queue"
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        assert attrs["QueueArn"] == "arn:aws:sqs:eu-west-1:123456789012:flags-queue"
        assert sqs.get_queue_url(QueueName="flags-queue")["QueueUrl"] == url
    finally:
        assert server.stop() == 0


def test_a_public_url_with_a_path_hands_out_queue_urls_that_work(tmp_path):
    # Behind a reverse proxy at https://example.test/sqs/ the queue URLs carry the path too.
    server = ServerProcess(args=["--public-url", "http://sqs.example.test/sqs/"], log_dir=tmp_path).start()
    try:
        sqs = client_for(server.endpoint)
        url = sqs.create_queue(QueueName="behind-proxy")["QueueUrl"]
        assert url == "http://sqs.example.test/sqs/000000000000/behind-proxy"
        sqs.send_message(QueueUrl=url, MessageBody="through the proxy")
        got = sqs.receive_message(QueueUrl=url)["Messages"]
        assert [m["Body"] for m in got] == ["through the proxy"]
    finally:
        assert server.stop() == 0


@pytest.mark.single_node("queue URLs follow forwarded headers only without --public-url, which cluster nodes have")
def test_queue_urls_follow_a_tls_proxy_forwarded_headers(redrive, sqs):
    name = redrive.unique("forwarded")
    sqs.create_queue(QueueName=name)
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AmazonSQS.GetQueueUrl",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "mq.example.com",
    }
    status, _, body = http_request("POST", redrive.endpoint + "/", data=json.dumps({"QueueName": name}).encode(), headers=headers)
    assert status == 200
    assert json.loads(body)["QueueUrl"] == f"https://mq.example.com/{redrive.account}/{name}"


def test_queue_urls_from_other_emulators_name_the_queue(redrive, sqs):
    name = redrive.unique("foreign")
    sqs.create_queue(QueueName=name)
    for url in [
        f"http://localhost:4566/queue/{redrive.region}/{redrive.account}/{name}",  # LocalStack, path style
        f"https://sqs.{redrive.region}.amazonaws.com/{redrive.account}/{name}",
        f"http://localhost:9324/queue/{name}",  # ElasticMQ
    ]:
        sqs.send_message(QueueUrl=url, MessageBody=url)
    got = sqs.receive_message(QueueUrl=redrive.queue_url(name), MaxNumberOfMessages=10)["Messages"]
    assert len(got) == 3


def test_a_presigned_request_names_its_sender(redrive):
    from urllib.parse import urlencode

    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    name = redrive.unique("presigned")
    url = redrive.sqs.create_queue(QueueName=name)["QueueUrl"]
    params = urlencode({"Action": "SendMessage", "QueueUrl": url, "MessageBody": "signed in the URL", "Version": "2012-11-05"})
    request = AWSRequest(method="GET", url=f"{redrive.endpoint}/?{params}")
    SigV4QueryAuth(Credentials("AKIDPRESIGNED", "secret"), "sqs", "us-east-1", expires=300).add_auth(request)
    status, _, body = http_request("GET", request.url)
    assert status == 200, body
    got = redrive.sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["SenderId"])["Messages"]
    assert got[0]["Attributes"]["SenderId"] == "AKIDPRESIGNED"


@pytest.mark.single_node("queue URLs follow the Host header only without --public-url, which cluster nodes have")
def test_queue_url_follows_host_header(redrive):
    sqs = client_for(f"http://localhost:{redrive.port}")
    name = redrive.unique("host")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url == f"http://localhost:{redrive.port}/{redrive.account}/{name}"


def test_config_file_and_environment(tmp_path):
    config = tmp_path / "redrive.toml"
    config.write_text('region = "ap-south-1"\naccount_id = "111122223333"\n', encoding="utf-8")
    server = ServerProcess(args=["--config", str(config)], log_dir=tmp_path).start()
    try:
        sqs = client_for(server.endpoint, region="ap-south-1")
        url = sqs.create_queue(QueueName="from-config")["QueueUrl"]
        assert url == f"{server.endpoint}/111122223333/from-config"
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert arn == "arn:aws:sqs:ap-south-1:111122223333:from-config"
    finally:
        assert server.stop() == 0

    server = ServerProcess(env={"REDRIVE_ACCOUNT_ID": "444455556666"}, log_dir=tmp_path).start()
    try:
        url = client_for(server.endpoint).create_queue(QueueName="from-env")["QueueUrl"]
        assert url == f"{server.endpoint}/444455556666/from-env"
    finally:
        assert server.stop() == 0


def test_data_dir_survives_restart(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    args = ["--data-dir", str(data)]
    server = ServerProcess(args=args, in_memory=False, log_dir=tmp_path).start()
    try:
        sqs = client_for(server.endpoint)
        url = sqs.create_queue(QueueName="durable", Attributes={"VisibilityTimeout": "45"}, tags={"keep": "yes"})[
            "QueueUrl"
        ]
        sent = sqs.send_message(
            QueueUrl=url,
            MessageBody="survives a restart",
            MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
        )
    finally:
        assert server.stop() == 0, server.log_tail()

    server = ServerProcess(args=args, in_memory=False, log_dir=tmp_path).start()
    try:
        sqs = client_for(server.endpoint)
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
            "VisibilityTimeout": "45"
        }
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"keep": "yes"}
        msgs = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
        assert [(m["MessageId"], m["Body"]) for m in msgs] == [(sent["MessageId"], "survives a restart")]
        assert msgs[0]["MessageAttributes"]["k"]["StringValue"] == "v"
        sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
    finally:
        assert server.stop() == 0, server.log_tail()


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, read the answer until the server closes or goes quiet."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def test_only_get_and_post_run_actions_and_health_answers_head(redrive):
    # A browser's CORS preflight (OPTIONS) or any other method must not run the action it names.
    name = redrive.unique("nomethod")
    for method in ["OPTIONS", "PUT", "DELETE", "PATCH"]:
        status, headers, _ = http_request(method, f"{redrive.endpoint}/?Action=CreateQueue&QueueName={name}")
        assert status == 405, method
        assert headers.get("Allow") == "GET, POST"
        assert headers.get("Access-Control-Allow-Origin") is None
    assert name not in json.dumps(redrive.sqs.list_queues())
    for path in ["/health", "/ready"]:
        status, headers, body = http_request("HEAD", redrive.endpoint + path)
        assert (status, body) == (200, b"")
        # A node of several says its role in JSON (docs/multi-node.md).
        assert headers.get("Content-Type") in ("text/plain", "application/json")


@pytest.mark.single_node("malformed HTTP is answered by the proxy in front of the nodes, not by redrive")
def test_oversized_and_broken_bodies_get_their_own_errors(redrive):
    big = 5 * 1024 * 1024 + 1
    head = (
        f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"X-Amz-Target: AmazonSQS.ListQueues\r\nContent-Length: {big}\r\n\r\n"
    ).encode()
    answer = raw_exchange(redrive.port, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"RequestEntityTooLarge" in answer
    # A chunked body whose chunk size is not hexadecimal is unreadable, not too large.
    broken = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"X-Amz-Target: AmazonSQS.ListQueues\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n"
    )
    answer = raw_exchange(redrive.port, broken)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"could not be read" in answer


def test_a_client_sending_a_whole_oversized_body_reads_the_413(redrive):
    # The server reads and throws away what it refuses, so the client, still sending, is not
    # reset under it: it reads the answer.
    body = b"{" + b" " * (6 * 1024 * 1024) + b"}"
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues"}
    status, _, answer = http_request("POST", f"{redrive.endpoint}/", data=body, headers=headers)
    assert status == 413, answer[:200]
    assert b"Request body is larger than 5242880 bytes." in answer


def test_a_json_body_without_a_target_gets_a_json_error(redrive):
    status, headers, body = http_request(
        "POST", redrive.endpoint + "/", data=b"{}", headers={"Content-Type": "application/x-amz-json-1.0"}
    )
    assert status == 400
    assert headers.get("x-amzn-query-error") == "InvalidAction;Sender"
    assert json.loads(body)["__type"] == "com.amazon.coral.service#UnknownOperationException"


def test_cors_is_off_by_default_and_on_for_the_origins_given(redrive, tmp_path):
    preflight = {
        "Origin": "http://localhost:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-amz-date,x-amz-target",
    }
    status, headers, _ = http_request("OPTIONS", redrive.endpoint + "/", headers=preflight)
    assert status == 405 and headers.get("Access-Control-Allow-Origin") is None
    server = ServerProcess(args=["--cors-origin", "http://localhost:3000"], log_dir=tmp_path).start()
    try:
        status, headers, _ = http_request("OPTIONS", server.endpoint + "/", headers=preflight)
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        assert headers["Access-Control-Allow-Methods"] == "GET, POST"
        assert headers["Access-Control-Allow-Headers"] == preflight["Access-Control-Request-Headers"]
        call = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.GetQueueUrl"}
        status, headers, _ = http_request(
            "POST", server.endpoint + "/", data=b'{"QueueName":"none"}', headers={**call, "Origin": "http://localhost:3000"}
        )
        assert status == 400
        assert headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        assert "x-amzn-query-error" in headers["Access-Control-Expose-Headers"]
        other = {**preflight, "Origin": "http://evil.example"}
        status, headers, _ = http_request("OPTIONS", server.endpoint + "/", headers=other)
        assert status == 405 and headers.get("Access-Control-Allow-Origin") is None
    finally:
        assert server.stop() == 0


def test_a_full_stdout_and_stderr_do_not_stop_the_server(tmp_path):
    # Logs to a full disk are dropped; they must not panic the server or its store writer.
    import signal
    import socket
    import subprocess
    import time

    from conftest import redrive_binary

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    full = open("/dev/full", "w")
    args = [str(redrive_binary()), "--bind", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "d"), "--log", "debug"]
    proc = subprocess.Popen(args, stdout=full, stderr=full)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if http_request("GET", endpoint + "/health", timeout=1)[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        sqs = client_for(endpoint)
        url = sqs.create_queue(QueueName="quiet")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="logged nowhere")
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["logged nowhere"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        full.close()


def three_stored_then_damaged(tmp_path, queue: str, *damage: str):
    """Three messages stored in `queue`, then, while the server is down, the body rows of the
    first ones changed by `damage` (SQL on one seq each, in seq order). Answers the data dir,
    the queue URL and the seqs damaged."""
    import sqlite3

    data = tmp_path / "data"
    server = ServerProcess(args=["--data-dir", str(data)], in_memory=False, log_dir=tmp_path).start()
    try:
        sqs = client_for(server.endpoint)
        url = sqs.create_queue(QueueName=queue)["QueueUrl"]
        for body in ["first", "second", "third"]:
            sqs.send_message(QueueUrl=url, MessageBody=body)
    finally:
        assert server.stop() == 0
    db = sqlite3.connect(data / "redrive.sqlite")
    seqs = [row[0] for row in db.execute("SELECT seq FROM contents ORDER BY seq LIMIT ?", (len(damage),))]
    for statement, seq in zip(damage, seqs):
        db.execute(statement, (seq,))
    db.commit()
    db.close()
    return data, url, seqs


def receive_after_damaging_the_first_body(tmp_path, damage: str) -> tuple[list[str], int, str]:
    """Three messages stored, the first one's body row changed by `damage` (SQL on its seq) while
    the server is down, then received after a restart: the bodies received, that seq, the log."""
    data, url, [first] = three_stored_then_damaged(tmp_path, "damaged", damage)
    server = ServerProcess(args=["--data-dir", str(data)], in_memory=False, log_dir=tmp_path).start()
    try:
        got = client_for(server.endpoint).receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    finally:
        assert server.stop() == 0
    return sorted(m["Body"] for m in got), first, server.log_path.read_text(errors="replace")


def test_a_message_whose_body_is_damaged_on_disk_is_skipped_and_named_in_the_log(tmp_path):
    # One message's body row holds bytes that do not decode. Receives skip it, as a missing one,
    # instead of failing for every message behind it; the log names it.
    bodies, first, log = receive_after_damaging_the_first_body(
        tmp_path, "UPDATE contents SET content = x'ffffffffff' WHERE seq = ?"
    )
    assert bodies == ["second", "third"]
    plain = log.replace("\x1b[3m", "").replace("\x1b[0m", "").replace("\x1b[2m", "")
    assert "a stored message body is damaged" in log and f"seq={first}" in plain


def test_a_message_whose_body_is_missing_on_disk_does_not_block_its_queue(tmp_path):
    # One message's body row is gone. Receives skip it (it can never be delivered) instead of
    # failing for every message behind it.
    bodies, _, _ = receive_after_damaging_the_first_body(tmp_path, "DELETE FROM contents WHERE seq = ?")
    assert bodies == ["second", "third"]

def test_a_damaged_or_missing_body_is_found_at_start_up_before_any_receive(tmp_path):
    # Issue 21: the start-up body check names each message whose body is damaged or missing and
    # counts them, in the log and in /metrics, without waiting for a receive to stumble on it.
    import time

    data, _, [first, second] = three_stored_then_damaged(
        tmp_path, "checked", "UPDATE contents SET content = x'ffffffffff' WHERE seq = ?", "DELETE FROM contents WHERE seq = ?"
    )
    server = ServerProcess(args=["--data-dir", str(data)], in_memory=False, log_dir=tmp_path).start()
    try:
        deadline = time.monotonic() + 30
        while "body check: " not in server.log_path.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.05)
        status, _, metrics = http_request("GET", server.endpoint + "/metrics")
    finally:
        assert server.stop() == 0
    plain = server.log_path.read_text(errors="replace")
    for code in ["\x1b[3m", "\x1b[0m", "\x1b[2m"]:
        plain = plain.replace(code, "")
    damaged = [line for line in plain.splitlines() if "body is damaged" in line]
    missing = [line for line in plain.splitlines() if "body is missing" in line]
    assert len(damaged) == 1 and "queue=checked" in damaged[0] and f"seq={first}" in damaged[0], plain
    assert len(missing) == 1 and "queue=checked" in missing[0] and f"seq={second}" in missing[0], plain
    assert "body check: 3 bodies checked, 1 damaged, 1 missing" in plain
    assert status == 200
    assert b"redrive_store_bodies_damaged 1\n" in metrics and b"redrive_store_bodies_missing 1\n" in metrics
