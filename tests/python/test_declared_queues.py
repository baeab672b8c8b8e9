"""Queues declared in the config file, or by REDRIVE_QUEUES, as the binary applies them at start."""

from __future__ import annotations

import json
import subprocess

import boto3
from botocore.config import Config

from conftest import ServerProcess, redrive_binary

DECLARED = """
[[queues]]
name = "orders"
dead_letter_queue = "orders-dlq"
max_receive_count = 5
attributes = { VisibilityTimeout = "60" }
tags = { team = "payments" }

[[queues]]
name = "orders-dlq"

[[queues]]
name = "events.fifo"
attributes = { ContentBasedDeduplication = "true" }
"""


def client_for(endpoint: str):
    return boto3.session.Session(
        aws_access_key_id="AKIDREDRIVETEST", aws_secret_access_key="redrive-test-secret", region_name="us-east-1"
    ).client("sqs", endpoint_url=endpoint, config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def test_a_config_file_declares_queues_with_a_dead_letter_queue_after_its_source(tmp_path):
    config = tmp_path / "redrive.toml"
    config.write_text(DECLARED)
    server = ServerProcess(args=["--config", str(config)], log_dir=tmp_path).start()
    try:
        sqs = client_for(server.endpoint)
        urls = sqs.list_queues()["QueueUrls"]
        assert sorted(u.rsplit("/", 1)[1] for u in urls) == ["events.fifo", "orders", "orders-dlq"]
        orders = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=orders, AttributeNames=["All"])["Attributes"]
        assert attrs["VisibilityTimeout"] == "60"
        policy = json.loads(attrs["RedrivePolicy"])
        assert policy["deadLetterTargetArn"] == "arn:aws:sqs:us-east-1:000000000000:orders-dlq"
        assert int(policy["maxReceiveCount"]) == 5
        assert sqs.list_queue_tags(QueueUrl=orders)["Tags"] == {"team": "payments"}
        fifo = sqs.get_queue_url(QueueName="events.fifo")["QueueUrl"]
        fifo_attrs = sqs.get_queue_attributes(QueueUrl=fifo, AttributeNames=["All"])["Attributes"]
        assert (fifo_attrs["FifoQueue"], fifo_attrs["ContentBasedDeduplication"]) == ("true", "true")
    finally:
        assert server.stop() == 0


def test_redrive_queues_creates_the_named_queues(tmp_path):
    server = ServerProcess(env={"REDRIVE_QUEUES": "alpha,beta"}, log_dir=tmp_path).start()
    try:
        urls = client_for(server.endpoint).list_queues()["QueueUrls"]
        assert sorted(u.rsplit("/", 1)[1] for u in urls) == ["alpha", "beta"]
    finally:
        assert server.stop() == 0


def test_a_refused_declaration_stops_the_start_with_one_line_and_changes_nothing(tmp_path):
    data = tmp_path / "data"
    config = tmp_path / "redrive.toml"
    config.write_text(DECLARED + '\n[[queues]]\nname = "slow"\nattributes = { DelaySeconds = "901" }\n')
    run = subprocess.run(
        [str(redrive_binary()), "--data-dir", str(data), "--bind", "127.0.0.1:0", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "redrive: declared queue slow: attribute DelaySeconds: InvalidAttributeValue: "
        "Invalid value for the parameter DelaySeconds."
    )
    # The same data directory, started without declarations, holds no queue.
    server = ServerProcess(args=["--data-dir", str(data)], in_memory=False, log_dir=tmp_path).start()
    try:
        assert client_for(server.endpoint).list_queues().get("QueueUrls", []) == []
    finally:
        assert server.stop() == 0
