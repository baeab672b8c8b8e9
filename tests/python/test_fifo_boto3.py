"""FIFO queues through boto3 (AWS JSON 1.0), checked against AWS's recorded or documented
behaviour (docs/aws-reference.md §2.3, §2.4, §2.6, §2.9, §4.1, §4.2, §4.6, §4.8): creation
rules and FIFO attributes, send validation, content-based deduplication, the 5-minute
deduplication window and its scopes, ordering within message groups, ReceiveRequestAttemptId,
expired receipt handles, and the FIFO dead-letter hand-off. Time moves with `redrive.advance`."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from redrive_helpers import aws_error, md5_hex

NAME_RULE = "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
FIFO_NAME_RULE = (
    "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
    "must end with .fifo suffix and be 1 to 80 in length."
)
NO_DEDUP_ID = (
    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly"
)


def fifo_queue(redrive, prefix: str = "f", **attributes) -> tuple[str, str]:
    """A fresh FIFO queue: (name, url)."""
    name = redrive.unique(prefix) + ".fifo"
    attrs = {"FifoQueue": "true", **{k: str(v) for k, v in attributes.items()}}
    return name, redrive.sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]


def send(sqs, url, body, group, dedup=None) -> dict:
    kwargs = {"QueueUrl": url, "MessageBody": body, "MessageGroupId": group}
    if dedup is not None:
        kwargs["MessageDeduplicationId"] = dedup
    out = sqs.send_message(**kwargs)
    assert out["MD5OfMessageBody"] == md5_hex(body)
    assert out["SequenceNumber"].isdigit()
    return out


def receive(sqs, url, max_messages=10, **kwargs) -> list[dict]:
    kwargs.setdefault("WaitTimeSeconds", 0)
    out = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=max_messages, MessageSystemAttributeNames=["All"], **kwargs
    )
    return out.get("Messages", [])


def bodies(messages: list[dict]) -> list[str]:
    return [m["Body"] for m in messages]


def of_group(messages: list[dict], group: str) -> list[str]:
    return [m["Body"] for m in messages if m["Attributes"]["MessageGroupId"] == group]


def delete_all(sqs, url, messages) -> None:
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def error_of(excinfo) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


# --- creation -----------------------------------------------------------------------


def test_a_fifo_name_needs_fifo_queue_true_and_the_reverse(redrive, sqs):
    with aws_error("InvalidParameterValue", 400) as e:
        sqs.create_queue(QueueName=redrive.unique("nofifoattr") + ".fifo")
    assert error_of(e)[1] == NAME_RULE
    with aws_error("InvalidParameterValue", 400) as e:
        sqs.create_queue(QueueName=redrive.unique("nosuffix"), Attributes={"FifoQueue": "true"})
    assert error_of(e)[1] == FIFO_NAME_RULE
    with aws_error("InvalidParameterValue", 400) as e:
        sqs.create_queue(QueueName="a" * 76 + ".fifo", Attributes={"FifoQueue": "true"})
    assert error_of(e)[1] == FIFO_NAME_RULE
    name = "b" * 75 + ".fifo"
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    assert url == redrive.queue_url(name)


def test_fifo_queue_false_on_a_fifo_queue_is_refused(redrive, sqs):
    _, url = fifo_queue(redrive)
    with aws_error("InvalidAttributeValue", 400) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "false"})
    assert error_of(e)[1] == "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true"})


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("FifoQueue", "false", "Unknown Attribute FifoQueue."),
        ("ContentBasedDeduplication", "true", "Unknown Attribute ContentBasedDeduplication."),
        ("DeduplicationScope", "queue", "You can specify the DeduplicationScope only when FifoQueue is set to true."),
        (
            "FifoThroughputLimit",
            "perQueue",
            "You can specify the FifoThroughputLimit only when FifoQueue is set to true.",
        ),
    ],
)
def test_fifo_attributes_on_a_standard_queue_are_refused(redrive, sqs, name, value, message):
    with aws_error("InvalidAttributeName", 400) as e:
        sqs.create_queue(QueueName=redrive.unique("std"), Attributes={name: value})
    assert error_of(e)[1] == message
    _, url = redrive.create_queue("std")
    with aws_error("InvalidAttributeName", 400) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={name: value})
    assert error_of(e)[1] == message


def test_get_queue_attributes_all_of_a_fifo_queue(redrive, sqs):
    name, url = fifo_queue(redrive)
    attrs = redrive.attributes(url)
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    assert attrs["DeduplicationScope"] == "queue"
    assert attrs["FifoThroughputLimit"] == "perQueue"
    assert attrs["QueueArn"] == redrive.queue_arn(name)
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["DelaySeconds"] == "0"
    assert set(attrs) == {
        "QueueArn",
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
        "CreatedTimestamp",
        "LastModifiedTimestamp",
        "VisibilityTimeout",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
        "SqsManagedSseEnabled",
        "FifoQueue",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
    }


def test_per_message_group_throughput_needs_message_group_deduplication(redrive, sqs):
    _, url = fifo_queue(redrive, DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    assert redrive.attributes(url, "DeduplicationScope", "FifoThroughputLimit") == {
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    }
    with aws_error("InvalidAttributeValue", 400) as e:
        fifo_queue(redrive, DeduplicationScope="queue", FifoThroughputLimit="perMessageGroupId")
    assert error_of(e)[1] == (
        "The perMessageGroupId value is allowed only when the value for DeduplicationScope is messageGroup"
    )


# --- send --------------------------------------------------------------------------


def test_send_without_a_group_id(redrive, sqs):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true")
    with aws_error("MissingParameter", 400) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    assert error_of(e)[1] == "The request must contain the parameter MessageGroupId."
    # A batch: InvalidParameterValue, and no entry is stored.
    with aws_error("InvalidParameterValue", 400) as e:
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": "a", "MessageBody": "a", "MessageGroupId": "g"}, {"Id": "b", "MessageBody": "b"}],
        )
    assert error_of(e)[1] == "The request must contain the parameter MessageGroupId."
    assert redrive.counts(url) == (0, 0, 0)


def test_send_without_a_deduplication_id(redrive, sqs):
    _, url = fifo_queue(redrive)
    with aws_error("InvalidParameterValue", 400) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert error_of(e)[1] == NO_DEDUP_ID
    with aws_error("InvalidParameterValue", 400) as e:
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": "a", "MessageBody": "a", "MessageGroupId": "g", "MessageDeduplicationId": "a"},
                {"Id": "b", "MessageBody": "b", "MessageGroupId": "g"},
            ],
        )
    assert error_of(e)[1] == NO_DEDUP_ID
    assert redrive.counts(url) == (0, 0, 0)


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "naïve"])
def test_group_and_deduplication_ids_are_validated(redrive, sqs, bad):
    _, url = fifo_queue(redrive)
    for param, kwargs in [
        ("MessageGroupId", {"MessageGroupId": bad, "MessageDeduplicationId": "d"}),
        ("MessageDeduplicationId", {"MessageGroupId": "g", "MessageDeduplicationId": bad}),
    ]:
        with aws_error("InvalidParameterValue", 400) as e:
            sqs.send_message(QueueUrl=url, MessageBody="x", **kwargs)
        assert error_of(e)[1] == (
            f"Value {bad} for parameter {param} is invalid. Reason: {param} can only include alphanumeric "
            "and punctuation characters. 1 to 128 in length."
        )


def test_content_based_deduplication_id_is_the_sha256_of_the_body(redrive, sqs):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true")
    body = json.dumps({"order": 7, "items": ["widget"]})
    sent = send(sqs, url, body, "orders")
    dup = send(sqs, url, body, "orders")
    assert dup["MessageId"] == sent["MessageId"]
    (m,) = receive(sqs, url)
    assert m["MessageId"] == sent["MessageId"]
    assert m["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(body.encode()).hexdigest()
    assert m["Attributes"]["MessageGroupId"] == "orders"
    assert m["Attributes"]["SequenceNumber"] == sent["SequenceNumber"]
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"


def test_per_message_delay_is_refused_and_zero_is_accepted(redrive, sqs):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true")
    with aws_error("InvalidParameterValue", 400) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", DelaySeconds=3)
    assert error_of(e)[1] == (
        "Value 3 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid "
        "for this queue type."
    )
    sqs.send_message(QueueUrl=url, MessageBody="zero", MessageGroupId="g", DelaySeconds=0)
    assert bodies(receive(sqs, url)) == ["zero"]


def test_the_queue_delay_applies_to_every_message(redrive, sqs):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true", DelaySeconds=5)
    send(sqs, url, "plain", "g")
    # FIFO: "you can't set DelaySeconds per message ... only on a queue level" (SendMessage
    # documentation), so an explicit 0 does not bypass the queue's delay.
    sqs.send_message(QueueUrl=url, MessageBody="zero", MessageGroupId="g", DelaySeconds=0)
    assert redrive.counts(url) == (0, 0, 2)
    assert receive(sqs, url) == []
    redrive.advance(5)
    assert bodies(receive(sqs, url)) == ["plain", "zero"]


def test_sequence_numbers_increase_within_a_group(redrive, sqs):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true")
    seqs = [int(send(sqs, url, f"m{i}", "g")["SequenceNumber"]) for i in range(4)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    batch = sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": f"b{i}", "MessageGroupId": "g"} for i in range(3)]
    )
    more = [int(e["SequenceNumber"]) for e in sorted(batch["Successful"], key=lambda e: e["Id"])]
    assert more == sorted(more) and more[0] > seqs[-1]
    got = receive(sqs, url)
    assert [int(m["Attributes"]["SequenceNumber"]) for m in got] == (seqs + more)[: len(got)]


# --- deduplication window ----------------------------------------------------------------


def test_a_duplicate_within_five_minutes_answers_the_first_message(redrive, sqs):
    _, url = fifo_queue(redrive)
    first = send(sqs, url, "first", "g", "order-1")
    redrive.advance(120)
    dup = send(sqs, url, "second", "g", "order-1")
    assert dup["MessageId"] == first["MessageId"]
    assert redrive.counts(url) == (1, 0, 0)
    redrive.advance(181)
    fresh = send(sqs, url, "third", "g", "order-1")
    assert fresh["MessageId"] != first["MessageId"]
    got = receive(sqs, url)
    assert bodies(got) == ["first", "third"]


def test_deduplication_scope_message_group(redrive, sqs):
    _, url = fifo_queue(redrive, DeduplicationScope="messageGroup")
    a = send(sqs, url, "a", "g1", "same")
    b = send(sqs, url, "b", "g2", "same")
    assert a["MessageId"] != b["MessageId"]
    assert send(sqs, url, "a2", "g1", "same")["MessageId"] == a["MessageId"]
    assert redrive.counts(url) == (2, 0, 0)


def test_purge_clears_deduplication(redrive, sqs):
    _, url = fifo_queue(redrive)
    first = send(sqs, url, "before", "g", "d")
    sqs.purge_queue(QueueUrl=url)
    after = send(sqs, url, "after", "g", "d")
    assert after["MessageId"] != first["MessageId"]
    assert bodies(receive(sqs, url)) == ["after"]


# --- ordering --------------------------------------------------------------------------


def test_group_order_and_blocking(redrive, sqs):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true")
    for body, group in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("b2", "B")]:
        send(sqs, url, body, group)
    (a1,) = receive(sqs, url, 1)
    assert a1["Body"] == "a1"
    (b1,) = receive(sqs, url, 1)
    assert b1["Body"] == "b1", "A waits for a1; B delivers"
    assert receive(sqs, url) == []
    sqs.delete_message(QueueUrl=url, ReceiptHandle=a1["ReceiptHandle"])
    assert bodies(receive(sqs, url)) == ["a2"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=b1["ReceiptHandle"], VisibilityTimeout=0)
    again = receive(sqs, url)
    assert bodies(again) == ["b1", "b2"], "b1 again before b2"
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_batch_receive_fills_from_one_group_first(redrive, sqs):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true")
    for i in range(1, 5):
        send(sqs, url, f"x{i}", "X")
        send(sqs, url, f"y{i}", "Y")
    got = receive(sqs, url, 10)
    assert bodies(got)[:4] == ["x1", "x2", "x3", "x4"]
    assert of_group(got, "Y") == ["y1", "y2", "y3", "y4"][: len(got) - 4]


def test_visibility_expiry_restarts_the_group_in_order(redrive, sqs):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true", VisibilityTimeout=10)
    for body in ["m1", "m2"]:
        send(sqs, url, body, "g")
    (m1,) = receive(sqs, url, 1)
    assert receive(sqs, url) == []
    redrive.advance(10)
    again = receive(sqs, url, 1)
    assert bodies(again) == ["m1"]
    assert again[0]["ReceiptHandle"] != m1["ReceiptHandle"]


# Recorded on AWS (LocalStack's AWS-validated FIFO tests): a group delivers its run of visible
# messages from the head, so a head that became visible again is delivered while a later
# message of its group is still in flight; and groups whose messages came back from a receive
# wait behind groups that were visible before.


def test_a_head_visible_again_is_delivered_while_a_later_message_of_its_group_is_in_flight(redrive, sqs):
    # test_fifo_message_group_visibility_after_terminate_visibility_timeout
    _, url = fifo_queue(redrive, "fvis", VisibilityTimeout=30, ContentBasedDeduplication="true")
    for body, group in [("g1-m1", "group-1"), ("g1-m2", "group-1"), ("g2-m1", "group-2")]:
        send(sqs, url, body, group)
    first = receive(sqs, url, 2)
    assert bodies(first) == ["g1-m1", "g1-m2"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0)
    assert bodies(receive(sqs, url, 3)) == ["g2-m1", "g1-m1"]


@pytest.mark.parametrize("extended, expected", [(0, []), (1, ["foo"]), (2, ["foo", "bar"])])
def test_extending_one_message_hides_it_and_those_after_it_in_its_group(redrive, sqs, extended, expected):
    # test_fifo_group_visibility_extends_with_change_message_visibility, recorded 2025-11
    _, url = fifo_queue(redrive, "fext", VisibilityTimeout=1)
    for body in ["foo", "bar", "baz"]:
        send(sqs, url, body, "1", dedup=body)
    got = receive(sqs, url, 5)
    assert bodies(got) == ["foo", "bar", "baz"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got[extended]["ReceiptHandle"], VisibilityTimeout=4)
    redrive.advance(2.5)
    assert bodies(receive(sqs, url, 5)) == expected


def test_groups_back_from_a_zero_visibility_receive_wait_behind_groups_never_received(redrive, sqs):
    # test_fifo_receive_message_with_zero_visibility_timeout
    _, url = fifo_queue(redrive, "fzero", ContentBasedDeduplication="true")
    for body in ["g1-m1", "g2-m1", "g2-m2", "g3-m1", "g1-m2"]:
        send(sqs, url, body, body.split("-")[0])
    assert bodies(receive(sqs, url, 3, VisibilityTimeout=0)) == ["g1-m1", "g1-m2", "g2-m1"]
    assert bodies(receive(sqs, url, 10, VisibilityTimeout=0)) == ["g3-m1", "g1-m1", "g1-m2", "g2-m1", "g2-m2"]


def test_groups_come_back_after_their_timeouts_in_the_order_they_expired(redrive, sqs):
    # test_fifo_receive_message_visibility_timeout_shared_in_group
    _, url = fifo_queue(redrive, "fback", VisibilityTimeout=1, ContentBasedDeduplication="true")
    for body in ["g1-m1", "g1-m2", "g1-m3", "g1-m4", "g2-m1", "g3-m1"]:
        send(sqs, url, body, body.split("-")[0])
    assert bodies(receive(sqs, url, 2)) == ["g1-m1", "g1-m2"]
    redrive.advance(0.1)
    assert bodies(receive(sqs, url, 1)) == ["g2-m1"]
    redrive.advance(2)
    expected = ["g3-m1", "g1-m1", "g1-m2", "g1-m3", "g1-m4", "g2-m1"]
    assert bodies(receive(sqs, url, 10, VisibilityTimeout=0)) == expected


def test_a_fifo_queue_delay_is_retroactive(redrive, sqs):
    # Documented (sqs-delay-queues.html): "For FIFO queues, the per-queue delay setting is
    # retroactive—changing the setting affects the delay of messages already in the queue."
    _, url = fifo_queue(redrive, "fdelay", DelaySeconds=60, ContentBasedDeduplication="true")
    send(sqs, url, "was delayed", "g")
    assert receive(sqs, url) == []
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})
    assert bodies(receive(sqs, url, VisibilityTimeout=0)) == ["was delayed"]
    _, later = fifo_queue(redrive, "fdelay2", ContentBasedDeduplication="true")
    send(sqs, later, "now delayed", "g")
    redrive.advance(10)
    sqs.set_queue_attributes(QueueUrl=later, Attributes={"DelaySeconds": "60"})
    attrs = sqs.get_queue_attributes(QueueUrl=later, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert receive(sqs, later) == []
    redrive.advance(50)  # 60 s after it was sent
    assert bodies(receive(sqs, later)) == ["now delayed"]


# --- ReceiveRequestAttemptId -----------------------------------------------------------------


def test_receive_request_attempt_id_returns_the_same_messages_and_handles(redrive, sqs):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true")
    for body in ["m1", "m2", "m3"]:
        send(sqs, url, body, "g")
    first = receive(sqs, url, 2, ReceiveRequestAttemptId="attempt-1")
    redrive.advance(5)
    retry = receive(sqs, url, 2, ReceiveRequestAttemptId="attempt-1")
    assert [(m["MessageId"], m["ReceiptHandle"]) for m in retry] == [
        (m["MessageId"], m["ReceiptHandle"]) for m in first
    ]
    assert bodies(retry) == ["m1", "m2"]
    assert receive(sqs, url, ReceiveRequestAttemptId="attempt-2") == []
    delete_all(sqs, url, retry)
    assert bodies(receive(sqs, url)) == ["m3"]


def test_a_retry_after_a_delete_is_a_new_receive_not_a_replay_of_the_deleted_message(redrive, sqs):
    # Documented: a retry returns the same messages only if none was deleted or changed since.
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true")
    for body in ["m0", "m1"]:
        send(sqs, url, body, "g")
    first = receive(sqs, url, 1, ReceiveRequestAttemptId="z")
    assert bodies(first) == ["m0"]
    delete_all(sqs, url, first)
    again = receive(sqs, url, 1, ReceiveRequestAttemptId="z")
    assert bodies(again) == ["m1"]
    assert again[0]["ReceiptHandle"] != first[0]["ReceiptHandle"]


@pytest.mark.parametrize("attempt", ["x" * 129, "has space", "\u00e9"])
def test_a_receive_request_attempt_id_keeps_to_the_documented_characters(redrive, sqs, attempt):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true")
    with aws_error("InvalidParameterValue", 400):
        sqs.receive_message(QueueUrl=url, ReceiveRequestAttemptId=attempt)
    assert receive(sqs, url, 1, ReceiveRequestAttemptId="!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" + "a" * 96) == []


# --- expired receipt handles -------------------------------------------------------------------


def test_delete_with_an_expired_handle(redrive, sqs):
    _, url = fifo_queue(redrive, ContentBasedDeduplication="true")
    send(sqs, url, "m1", "g")
    (m,) = receive(sqs, url, VisibilityTimeout=5)
    redrive.advance(6)
    with aws_error("InvalidParameterValue", 400) as e:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert error_of(e)[1] == (
        f"Value {m['ReceiptHandle']} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired."
    )
    assert redrive.counts(url) == (1, 0, 0)
    # Extended before it expires, a late delete succeeds.
    (m,) = receive(sqs, url, VisibilityTimeout=5)
    redrive.advance(4)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=30)
    redrive.advance(10)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert redrive.counts(url) == (0, 0, 0)


# --- dead-letter queues ----------------------------------------------------------------------


def test_a_fifo_source_needs_a_fifo_dlq(redrive, sqs):
    dlq_name, _ = redrive.create_queue("std-dlq")
    policy = json.dumps({"deadLetterTargetArn": redrive.queue_arn(dlq_name), "maxReceiveCount": 2})
    with aws_error("InvalidParameterValue", 400) as e:
        fifo_queue(redrive, RedrivePolicy=policy)
    assert error_of(e)[1] == (
        f"Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of "
        "queue as the source.."
    )


def test_the_fifo_dead_letter_hand_off(redrive, sqs):
    dlq_name, dlq_url = fifo_queue(redrive, "dlq")
    policy = json.dumps({"deadLetterTargetArn": redrive.queue_arn(dlq_name), "maxReceiveCount": 1})
    src_name, url = fifo_queue(redrive, "src", RedrivePolicy=policy, ContentBasedDeduplication="true")
    poison = send(sqs, url, "poison", "g")
    send(sqs, url, "next", "g")
    assert bodies(receive(sqs, url, 1, VisibilityTimeout=10)) == ["poison"]
    redrive.advance(10)
    got = receive(sqs, url)
    if "next" not in bodies(got):
        got += receive(sqs, url)
    assert bodies(got) == ["next"], "the group goes on once its head is dead-lettered"
    (m,) = receive(sqs, dlq_url)
    assert m["MessageId"] == poison["MessageId"]
    assert m["Body"] == "poison"
    assert m["Attributes"]["MessageGroupId"] == "g"
    assert m["Attributes"]["MessageDeduplicationId"] == poison["MessageId"]
    assert m["Attributes"]["DeadLetterQueueSourceArn"] == redrive.queue_arn(src_name)
    assert m["Attributes"]["ApproximateReceiveCount"] == "2"


def test_a_fifo_redrive_keeps_group_order_and_leaves_a_group_whose_head_is_held(redrive, sqs):
    # AWS redrives "in the order they are received, starting with the oldest message", and a
    # FIFO group's later messages never pass its head.
    dlq_name, dlq_url = fifo_queue(redrive, "rdlq")
    dlq_arn = redrive.queue_arn(dlq_name)
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    _, src = fifo_queue(redrive, "rsrc", RedrivePolicy=policy, ContentBasedDeduplication="true")
    for body, group in [("a1", "g1"), ("a2", "g1"), ("a3", "g1"), ("b1", "g2")]:
        send(sqs, src, body, group)
    for _ in range(10):
        receive(sqs, src, VisibilityTimeout=0)
    assert sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"
    ]["ApproximateNumberOfMessages"] == "4"
    held = receive(sqs, dlq_url, 1, VisibilityTimeout=30)
    assert bodies(held) == ["a1"]

    def run_task() -> dict:
        sqs.start_message_move_task(SourceArn=dlq_arn)
        for _ in range(250):
            task = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
            if task["Status"] != "RUNNING":
                return task
            time.sleep(0.02)
        raise AssertionError("the task did not end")

    task = run_task()
    assert (task["Status"], task["ApproximateNumberOfMessagesToMove"], task["ApproximateNumberOfMessagesMoved"]) == (
        "COMPLETED",
        4,
        1,
    ), "g1 stays behind its held head; the count at start included every message"
    assert bodies(receive(sqs, src, VisibilityTimeout=0)) == ["b1"]
    redrive.advance(31)
    task = run_task()
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    assert of_group(receive(sqs, src), "g1") == ["a1", "a2", "a3"]
