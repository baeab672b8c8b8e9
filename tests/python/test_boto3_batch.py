"""Batch actions through boto3: SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch,
with partial failures and the request-level batch errors."""

from __future__ import annotations

import pytest

from redrive_helpers import aws_error, md5_hex, md5_of_attributes


def test_send_message_batch(redrive, sqs, queue):
    _, url = queue
    attrs = {"kind": {"DataType": "String", "StringValue": "batch"}, "n": {"DataType": "Number", "StringValue": "1"}}
    entries = [
        {"Id": "plain", "MessageBody": "first"},
        {"Id": "with-attrs", "MessageBody": "second", "MessageAttributes": attrs},
        {"Id": "delayed_1", "MessageBody": "third", "DelaySeconds": 10},
    ]
    resp = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert resp.get("Failed", []) == []
    ok = {e["Id"]: e for e in resp["Successful"]}
    assert set(ok) == {"plain", "with-attrs", "delayed_1"}
    assert ok["plain"]["MD5OfMessageBody"] == md5_hex("first")
    assert ok["with-attrs"]["MD5OfMessageAttributes"] == md5_of_attributes(attrs)
    assert "MD5OfMessageAttributes" not in ok["plain"]
    assert len({e["MessageId"] for e in ok.values()}) == 3

    assert redrive.counts(url) == (2, 0, 1)
    got = {m["Body"]: m for m in redrive.receive_all(url, MessageAttributeNames=["All"])}
    assert set(got) == {"first", "second"}
    assert got["second"]["MessageId"] == ok["with-attrs"]["MessageId"]
    assert got["second"]["MessageAttributes"]["kind"]["StringValue"] == "batch"
    redrive.advance(11)
    assert [m["Body"] for m in redrive.receive_all(url)] == ["third"]


def test_send_message_batch_partial_failure(redrive, sqs):
    _, url = redrive.create_queue("partial", MaximumMessageSize=1024)
    resp = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "good", "MessageBody": "fine"},
            {"Id": "bad_chars", "MessageBody": "\x01"},
            {"Id": "too_big", "MessageBody": "x" * 1025},
            {"Id": "good2", "MessageBody": "also fine"},
        ],
    )
    assert sorted(e["Id"] for e in resp["Successful"]) == ["good", "good2"]
    failed = {f["Id"]: f for f in resp["Failed"]}
    assert set(failed) == {"bad_chars", "too_big"}
    assert failed["bad_chars"]["Code"] == "InvalidMessageContents"
    assert failed["too_big"]["Code"] == "InvalidParameterValue"
    assert all(f["SenderFault"] is True and f.get("Message") for f in failed.values())
    assert sorted(m["Body"] for m in redrive.receive_all(url)) == ["also fine", "fine"]


def test_delete_message_batch_with_partial_failure(redrive, sqs, queue):
    _, url = queue
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"d{i}"} for i in range(3)])
    msgs = redrive.receive_all(url)
    assert len(msgs) == 3
    entries = [{"Id": f"e{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs[:2])]
    entries.append({"Id": "broken", "ReceiptHandle": "not-a-receipt-handle"})
    resp = sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(e["Id"] for e in resp["Successful"]) == ["e0", "e1"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in resp["Failed"]] == [
        ("broken", "ReceiptHandleIsInvalid", True)
    ]
    assert redrive.counts(url) == (0, 1, 0)
    redrive.advance(31)
    assert [m["MessageId"] for m in redrive.receive_all(url)] == [msgs[2]["MessageId"]]


def test_change_message_visibility_batch_with_partial_failure(redrive, sqs, queue):
    _, url = queue
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"c{i}"} for i in range(2)])
    msgs = redrive.receive_all(url)
    assert len(msgs) == 2
    resp = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "now", "ReceiptHandle": msgs[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "later", "ReceiptHandle": msgs[1]["ReceiptHandle"], "VisibilityTimeout": 300},
            {"Id": "broken", "ReceiptHandle": "garbage", "VisibilityTimeout": 0},
        ],
    )
    assert sorted(e["Id"] for e in resp["Successful"]) == ["later", "now"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in resp["Failed"]] == [
        ("broken", "ReceiptHandleIsInvalid", True)
    ]
    assert [m["MessageId"] for m in redrive.receive_all(url, VisibilityTimeout=1000)] == [msgs[0]["MessageId"]]
    redrive.advance(301)
    assert [m["MessageId"] for m in redrive.receive_all(url)] == [msgs[1]["MessageId"]]


BATCH_CALLS = {
    "send": lambda sqs, url, entries: sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": e, "MessageBody": "x"} for e in entries]
    ),
    "delete": lambda sqs, url, entries: sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": e, "ReceiptHandle": "rh"} for e in entries]
    ),
    "change-visibility": lambda sqs, url, entries: sqs.change_message_visibility_batch(
        QueueUrl=url, Entries=[{"Id": e, "ReceiptHandle": "rh", "VisibilityTimeout": 1} for e in entries]
    ),
}


@pytest.mark.parametrize("action", sorted(BATCH_CALLS))
def test_empty_batch(sqs, queue, action):
    _, url = queue
    with aws_error("AWS.SimpleQueueService.EmptyBatchRequest", 400):
        BATCH_CALLS[action](sqs, url, [])


@pytest.mark.parametrize("action", sorted(BATCH_CALLS))
def test_too_many_entries(sqs, queue, action):
    _, url = queue
    with aws_error("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400):
        BATCH_CALLS[action](sqs, url, [f"id{i}" for i in range(11)])


@pytest.mark.parametrize("action", sorted(BATCH_CALLS))
def test_entry_ids_not_distinct(sqs, queue, action):
    _, url = queue
    with aws_error("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400):
        BATCH_CALLS[action](sqs, url, ["same", "other", "same"])


@pytest.mark.parametrize("action", sorted(BATCH_CALLS))
@pytest.mark.parametrize(
    "bad_id", ["has space", "dot.id", "colon:id", "x" * 81, ""], ids=["space", "dot", "colon", "81-chars", "empty"]
)
def test_invalid_batch_entry_id(sqs, queue, action, bad_id):
    _, url = queue
    with aws_error("AWS.SimpleQueueService.InvalidBatchEntryId", 400):
        BATCH_CALLS[action](sqs, url, ["fine", bad_id])


def test_ten_entries_is_the_maximum_accepted(redrive, sqs, queue):
    _, url = queue
    resp = sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": f"id-{i}", "MessageBody": f"b{i}"} for i in range(10)]
    )
    assert len(resp["Successful"]) == 10
    assert redrive.counts(url) == (10, 0, 0)


def test_batch_total_size_limit(sqs, queue):
    _, url = queue
    # Two entries of 600 KiB: each is allowed alone, together they exceed the 1 MiB batch payload.
    body = "b" * (600 * 1024)
    with aws_error("AWS.SimpleQueueService.BatchRequestTooLong", 400):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "a", "MessageBody": body}, {"Id": "b", "MessageBody": body}]
        )
