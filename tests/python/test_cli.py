"""The AWS CLI (v1) walk-through a newcomer would type, checking its JSON output."""

from __future__ import annotations

import json

from redrive_helpers import md5_hex, md5_of_attributes


def test_cli_walkthrough(redrive):
    aws = redrive.aws
    name = redrive.unique("cli")

    created = aws("create-queue", "--queue-name", name)
    url = created["QueueUrl"]
    assert url == redrive.queue_url(name)

    assert aws("get-queue-url", "--queue-name", name) == {"QueueUrl": url}

    attrs = aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
    assert attrs["QueueArn"] == redrive.queue_arn(name)
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["MessageRetentionPeriod"] == "345600"

    listed = aws("list-queues", "--queue-name-prefix", name)
    assert listed["QueueUrls"] == [url]
    assert url in aws("list-queues")["QueueUrls"]

    body = "Hello from the AWS CLI"
    sent = aws("send-message", "--queue-url", url, "--message-body", body)
    assert sent["MD5OfMessageBody"] == md5_hex(body)
    assert sent["MessageId"]

    assert aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "ApproximateNumberOfMessages") == {
        "Attributes": {"ApproximateNumberOfMessages": "1"}
    }

    received = aws(
        "receive-message",
        "--queue-url",
        url,
        "--attribute-names",
        "All",
        "--message-attribute-names",
        "All",
        "--max-number-of-messages",
        "10",
    )
    assert len(received["Messages"]) == 1
    msg = received["Messages"][0]
    assert msg["Body"] == body
    assert msg["MessageId"] == sent["MessageId"]
    assert msg["MD5OfBody"] == md5_hex(body)
    assert msg["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(msg["Attributes"]["SentTimestamp"]) > 0

    # delete-message prints nothing on success.
    assert aws("delete-message", "--queue-url", url, "--receipt-handle", msg["ReceiptHandle"]) == {}
    assert aws("receive-message", "--queue-url", url).get("Messages", []) == []

    assert aws("delete-queue", "--queue-url", url) == {}
    assert aws("list-queues", "--queue-name-prefix", name).get("QueueUrls", []) == []


def test_cli_create_with_attributes_and_tags(redrive):
    aws = redrive.aws
    name = redrive.unique("cli-attrs")
    url = aws(
        "create-queue",
        "--queue-name",
        name,
        "--attributes",
        "VisibilityTimeout=45,DelaySeconds=2",
        "--tags",
        "team=core",
    )["QueueUrl"]
    attrs = aws(
        "get-queue-attributes", "--queue-url", url, "--attribute-names", "VisibilityTimeout", "DelaySeconds"
    )["Attributes"]
    assert attrs == {"VisibilityTimeout": "45", "DelaySeconds": "2"}
    assert aws("list-queue-tags", "--queue-url", url) == {"Tags": {"team": "core"}}
    aws("set-queue-attributes", "--queue-url", url, "--attributes", "DelaySeconds=0")
    assert aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "DelaySeconds") == {
        "Attributes": {"DelaySeconds": "0"}
    }


def test_cli_message_attributes_and_batch(redrive):
    aws = redrive.aws
    _, url = redrive.create_queue("cli-batch")
    attributes = {"source": {"DataType": "String", "StringValue": "cli"}, "n": {"DataType": "Number", "StringValue": "7"}}
    sent = aws(
        "send-message", "--queue-url", url, "--message-body", "attr", "--message-attributes", json.dumps(attributes)
    )
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)

    entries = [{"Id": "one", "MessageBody": "b1"}, {"Id": "two", "MessageBody": "b2"}]
    batch = aws("send-message-batch", "--queue-url", url, "--entries", json.dumps(entries))
    assert sorted(e["Id"] for e in batch["Successful"]) == ["one", "two"]
    assert batch.get("Failed", []) == []

    msgs = aws(
        "receive-message", "--queue-url", url, "--max-number-of-messages", "10", "--message-attribute-names", "All"
    )["Messages"]
    bodies = {m["Body"]: m for m in msgs}
    # One receive may return fewer than all; the attribute message must round-trip when present.
    if "attr" in bodies:
        assert bodies["attr"]["MessageAttributes"]["source"]["StringValue"] == "cli"
    handles = [{"Id": f"h{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
    deleted = aws("delete-message-batch", "--queue-url", url, "--entries", json.dumps(handles))
    assert len(deleted["Successful"]) == len(msgs)

    aws("purge-queue", "--queue-url", url)
    attrs = aws("get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_cli_reports_missing_queue(redrive):
    result = redrive.aws_run("get-queue-url", "--queue-name", redrive.unique("cli-missing"))
    assert result.returncode != 0
    assert "AWS.SimpleQueueService.NonExistentQueue" in result.stderr
