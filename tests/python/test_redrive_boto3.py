"""Dead-letter queues and message move tasks with boto3.

The seed articles' flows replayed literally (the AWS News Blog walk-through, the
"two-part system" snippet, the console walk-through and the Medium consumer loop), every
RedrivePolicy / RedriveAllowPolicy / move-task validation error with AWS's wording
(docs/aws-reference.md §2.5, §2.11, §4.6, §5), redrive to the sources or to a chosen
destination, the velocity cap against the manual clock, cancellation, a destination
deleted mid-task, and a task that survives a restart of a durable server.

Move tasks run in the background: tests poll ListMessageMoveTasks for a bounded real
time (up to 5 s, 20 ms steps) and move the manual clock one second at a time to let a
rate-limited task proceed. Simulated time is never slept.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, Redrive, ServerProcess
from redrive_helpers import Background, md5_hex, md5_of_attributes

NON_EXISTENT_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"
HELLO_MD5 = "b10a8db164e0754105b7a99be72e3fe5"
TASK_ENTRY_KEYS_DEFAULTS = {
    "Status",
    "SourceArn",
    "ApproximateNumberOfMessagesMoved",
    "ApproximateNumberOfMessagesToMove",
    "StartedTimestamp",
}


# --- helpers -----------------------------------------------------------------------------


def policy(dlq_arn: str, count: str = "3") -> str:
    """A RedrivePolicy; `count` is the raw JSON token (`3` or `"3"`)."""
    return f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":{count}}}'


def normalized(dlq_arn: str, count: int) -> str:
    return f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":{count}}}'


def failure(call, **kwargs) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a call that must fail."""
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def invalid(message: str) -> tuple[int, str, str]:
    return 400, "InvalidParameterValue", message


def not_found(message: str) -> tuple[int, str, str]:
    return 404, "ResourceNotFoundException", message


def count_of(message: dict) -> int:
    return int(message["Attributes"]["ApproximateReceiveCount"])


def receive(sqs, url: str, max_messages: int = 10, **kwargs) -> list[dict]:
    kwargs.setdefault("WaitTimeSeconds", 0)
    messages = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=max_messages,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
        **kwargs,
    ).get("Messages", [])
    for m in messages:
        assert m["MD5OfBody"] == md5_hex(m["Body"])
    return messages


def drain(redrive: Redrive, url: str) -> list[str]:
    """Bodies of every visible message (received, then hidden for the queue's timeout)."""
    return sorted(m["Body"] for m in redrive.receive_all(url, rounds=50))


def source_and_dlq(redrive: Redrive, prefix: str, count: str = "1") -> tuple[str, str, str, str]:
    """(source url, source arn, dlq url, dlq arn)."""
    dlq_name, dlq_url = redrive.create_queue(f"{prefix}-dlq")
    dlq_arn = redrive.queue_arn(dlq_name)
    src_name, src_url = redrive.create_queue(prefix, RedrivePolicy=policy(dlq_arn, count))
    return src_url, redrive.queue_arn(src_name), dlq_url, dlq_arn


def dead_letter_all(redrive: Redrive, src_url: str, dlq_url: str, bodies: list[str]) -> None:
    """Dead-letter `bodies` through a source with maxReceiveCount 1 without moving the
    clock: a receive with VisibilityTimeout 0 counts a receive and leaves the message
    visible, so the next receive hands it to the DLQ."""
    sqs = redrive.sqs
    before = redrive.counts(dlq_url)[0]
    for body in bodies:
        sqs.send_message(QueueUrl=src_url, MessageBody=body)
    for _ in range(100):
        got = sqs.receive_message(QueueUrl=src_url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        if not got and redrive.counts(src_url) == (0, 0, 0):
            break
    assert redrive.counts(src_url) == (0, 0, 0), "every message left the source"
    assert redrive.counts(dlq_url)[0] == before + len(bodies), "every message is in the DLQ"


def tasks(sqs, source_arn: str, max_results: int | None = None) -> list[dict]:
    kwargs = {"SourceArn": source_arn}
    if max_results is not None:
        kwargs["MaxResults"] = max_results
    return sqs.list_message_move_tasks(**kwargs).get("Results", [])


def latest(sqs, source_arn: str) -> dict:
    got = tasks(sqs, source_arn)
    assert len(got) == 1, f"the default MaxResults is 1: {got}"
    return got[0]


def wait_task(sqs, source_arn: str, what: str, done) -> dict:
    """Poll the newest task for up to 5 s of real time until `done(task)` holds."""
    last = None
    for _ in range(250):
        last = latest(sqs, source_arn)
        if done(last):
            return last
        time.sleep(0.02)
    raise AssertionError(f"task never reached {what}; last seen {last}")


def wait_status(sqs, source_arn: str, status: str) -> dict:
    return wait_task(sqs, source_arn, status, lambda t: t["Status"] == status)


def wait_moved_and_held(sqs, source_arn: str, n: int) -> dict:
    """Wait until `n` moved, never seeing more; then check it stays at `n` (the task
    waits for the clock)."""

    def reached(task):
        assert task["ApproximateNumberOfMessagesMoved"] <= n, f"moved more than {n}: {task}"
        return task["ApproximateNumberOfMessagesMoved"] == n

    task = wait_task(sqs, source_arn, f"{n} moved", reached)
    time.sleep(0.15)
    again = latest(sqs, source_arn)
    assert again["ApproximateNumberOfMessagesMoved"] == n, f"more than {n} before the clock moved: {again}"
    assert again["Status"] == "RUNNING"
    return task


def decode_handle(handle: str) -> dict:
    return json.loads(base64.b64decode(handle, validate=True))


def handle_of(task_id: str, source_arn: str) -> str:
    return base64.b64encode(json.dumps({"taskId": task_id, "sourceArn": source_arn}).encode()).decode()


def sources_of(sqs, dlq_url: str) -> list[str]:
    return sorted(sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", []))


def numbered(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:02d}" for i in range(n)]


# --- the seed articles, literally ----------------------------------------------------------


def test_news_blog_walkthrough_with_boto3(redrive, sqs):
    """AWS News Blog, "Amazon SQS Dead-Letter Queue Redrive APIs" (seed 002), in boto3."""
    # First, I create the dead-letter queue, then retrieve its ARN.
    dlq_url = sqs.create_queue(QueueName="awsnewsblog-dlq")["QueueUrl"]
    assert dlq_url == redrive.queue_url("awsnewsblog-dlq")
    attrs = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    assert attrs["Attributes"] == {"QueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:awsnewsblog-dlq"}
    dlq_arn = attrs["Attributes"]["QueueArn"]
    # Third, the application queue: DLQ after three delivery attempts ("3", a string).
    url = sqs.create_queue(
        QueueName="awsnewsblog",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})},
    )["QueueUrl"]
    assert url == redrive.queue_url("awsnewsblog")
    assert redrive.attributes(url, "RedrivePolicy") == {"RedrivePolicy": normalized(dlq_arn, 3)}

    sent = sqs.send_message(QueueUrl=url, MessageBody="Hello World")
    assert sent["MD5OfMessageBody"] == HELLO_MD5
    message_id = sent["MessageId"]

    first_receive = None
    for attempt in (1, 2, 3):
        got = receive(sqs, url)
        assert [m["Body"] for m in got] == ["Hello World"], f"receive {attempt}"
        m = got[0]
        assert m["MessageId"] == message_id
        assert m["MD5OfBody"] == HELLO_MD5
        assert count_of(m) == attempt
        assert "DeadLetterQueueSourceArn" not in m["Attributes"]
        first_receive = first_receive or m["Attributes"]["ApproximateFirstReceiveTimestamp"]
        assert m["Attributes"]["ApproximateFirstReceiveTimestamp"] == first_receive
        sent_at = m["Attributes"]["SentTimestamp"]
        assert receive(sqs, url) == [], "hidden during the visibility timeout"
        redrive.advance(31)  # the default visibility timeout is 30 seconds

    # After three processing attempts, the message is not in the queue anymore.
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    assert redrive.counts(url) == (0, 0, 0)
    got = receive(sqs, dlq_url)
    assert len(got) == 1
    m = got[0]
    assert m["MessageId"] == message_id, "the original message ID is retained"
    assert m["Body"] == "Hello World"
    assert m["MD5OfBody"] == HELLO_MD5
    assert count_of(m) == 4
    assert m["Attributes"]["DeadLetterQueueSourceArn"] == redrive.queue_arn("awsnewsblog")
    assert m["Attributes"]["SentTimestamp"] == sent_at, "a standard DLQ keeps the original enqueue time"
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"] == [url]
    redrive.advance(31)

    started_at = redrive.advance(0)
    started = sqs.start_message_move_task(SourceArn=dlq_arn)
    handle = started["TaskHandle"]
    decoded = decode_handle(handle)
    assert set(decoded) == {"taskId", "sourceArn"}
    assert decoded["sourceArn"] == dlq_arn
    uuid.UUID(decoded["taskId"])

    task = wait_status(sqs, dlq_arn, "COMPLETED")
    assert set(task) == TASK_ENTRY_KEYS_DEFAULTS, "no TaskHandle, DestinationArn or rate once COMPLETED"
    assert task["SourceArn"] == dlq_arn
    assert task["ApproximateNumberOfMessagesMoved"] == 1
    assert task["ApproximateNumberOfMessagesToMove"] == 1
    assert task["StartedTimestamp"] == started_at, "epoch milliseconds"

    # Now my application can consume the message again from the application queue.
    got = receive(sqs, url)
    assert [m["Body"] for m in got] == ["Hello World"]
    m = got[0]
    assert m["MD5OfBody"] == HELLO_MD5
    assert m["MessageId"] != message_id, "a redriven message has a new MessageId"
    uuid.UUID(m["MessageId"])
    assert count_of(m) == 1
    assert "DeadLetterQueueSourceArn" not in m["Attributes"]
    assert redrive.counts(dlq_url) == (0, 0, 0)


def test_two_part_system_snippet_with_boto3(redrive, sqs):
    """Seed 000: start_message_move_task with the *source* queue first (its "configuration
    step"), then DLQ -> source. The first call is an error on AWS: only a DLQ can be a
    move task's source; boto3 has no AlreadyExistsException for SQS."""
    dlq_url = sqs.create_queue(QueueName="my-processing-dlq")["QueueUrl"]
    source_queue_url = sqs.create_queue(
        QueueName="my-processing-queue",
        Attributes={"RedrivePolicy": policy(redrive.queue_arn("my-processing-dlq"), "1")},
    )["QueueUrl"]
    source_arn = redrive.queue_arn("my-processing-queue")
    dlq_arn = redrive.queue_arn("my-processing-dlq")
    dead_letter_all(redrive, source_queue_url, dlq_url, ["stuck 1", "stuck 2"])

    with pytest.raises(ClientError) as excinfo:
        sqs.start_message_move_task(SourceArn=source_arn, DestinationArn=dlq_arn)
    error = excinfo.value.response["Error"]
    assert error["Code"] == "InvalidParameterValue"
    assert error["Message"] == "Source queue must be configured as a Dead Letter Queue."
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # The article's `except sqs.exceptions.AlreadyExistsException:` cannot even be evaluated.
    assert not hasattr(sqs.exceptions, "AlreadyExistsException")
    assert tasks(sqs, source_arn) == []

    response = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=source_arn)
    task_handle = response["TaskHandle"]
    assert decode_handle(task_handle)["sourceArn"] == dlq_arn
    # There is no describe_message_move_task; ListMessageMoveTasks reports the status.
    assert not hasattr(sqs, "describe_message_move_task")
    task = wait_status(sqs, dlq_arn, "COMPLETED")
    assert task["DestinationArn"] == source_arn
    assert task["ApproximateNumberOfMessagesMoved"] == 2
    assert drain(redrive, source_queue_url) == ["stuck 1", "stuck 2"]


def test_console_walkthrough_with_boto3(redrive, sqs):
    """Seed 001 (Compute Blog, console): Maximum receives 1, several test messages polled
    10 at a time, all dead-lettered, then "Redrive to source queue(s)", system optimized."""
    dlq_url = sqs.create_queue(QueueName="MyDLQ")["QueueUrl"]
    source_url = sqs.create_queue(QueueName="MySourceQueue")["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=source_url,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": redrive.queue_arn("MyDLQ"), "maxReceiveCount": 1})},
    )
    assert redrive.attributes(source_url, "RedrivePolicy")["RedrivePolicy"] == normalized(redrive.queue_arn("MyDLQ"), 1)
    bodies = numbered("test message", 12)
    for body in bodies:
        sqs.send_message(QueueUrl=source_url, MessageBody=body)
    polled = []
    for _ in range(3):
        polled += sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=10).get("Messages", [])
    assert sorted(m["Body"] for m in polled) == bodies, "polled more than once to get all 12"
    redrive.advance(31)
    assert sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=10).get("Messages", []) == []
    assert sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=10).get("Messages", []) == []
    assert redrive.attributes(dlq_url, "ApproximateNumberOfMessages") == {"ApproximateNumberOfMessages": "12"}

    sqs.start_message_move_task(SourceArn=redrive.queue_arn("MyDLQ"))
    task = wait_status(sqs, redrive.queue_arn("MyDLQ"), "COMPLETED")
    assert (task["ApproximateNumberOfMessagesMoved"], task["ApproximateNumberOfMessagesToMove"]) == (12, 12)
    assert redrive.counts(dlq_url) == (0, 0, 0)
    assert drain(redrive, source_url) == bodies


def test_medium_consumer_loop_with_boto3(redrive, sqs):
    """Seed 003: the consumer (MaxNumberOfMessages=10, WaitTimeSeconds=20, VisibilityTimeout=5,
    all attributes) fails to delete a poisoned message; it is received with the same
    MessageId and a growing count, lands in the DLQ, and is redriven at a capped rate."""
    dlq_url = sqs.create_queue(QueueName="ingestions-queue-dead-letter")["QueueUrl"]
    dlq_arn = redrive.queue_arn("ingestions-queue-dead-letter")
    url = sqs.create_queue(QueueName="ingestions-queue", Attributes={"RedrivePolicy": policy(dlq_arn, "5")})["QueueUrl"]

    def poll(queue_url):
        return sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=20,  # long polling
            VisibilityTimeout=5,  # time to process before message reappears
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])

    sent = sqs.send_message(QueueUrl=url, MessageBody="poisoned message")
    seen = []
    for attempt in range(1, 6):
        got = poll(url)
        assert len(got) == 1
        seen.append(got[0])
        assert set(got[0]["Attributes"]) == {
            "SenderId",
            "ApproximateFirstReceiveTimestamp",
            "ApproximateReceiveCount",
            "SentTimestamp",
        }
        assert count_of(got[0]) == attempt
        redrive.advance(5)
    assert {m["MessageId"] for m in seen} == {sent["MessageId"]}
    assert len({m["ReceiptHandle"] for m in seen}) == 5, "a new receipt handle each time"
    assert len({m["Attributes"]["SentTimestamp"] for m in seen}) == 1
    assert len({m["Attributes"]["ApproximateFirstReceiveTimestamp"] for m in seen}) == 1

    # The sixth long poll hands the message to the DLQ and then waits out its 20 s.
    waiting = Background(poll, url)
    wait_for = time.monotonic() + 5
    while redrive.counts(dlq_url)[0] != 1 and time.monotonic() < wait_for:
        time.sleep(0.02)
    assert redrive.counts(dlq_url) == (1, 0, 0)
    assert not waiting.done(), "the long poll waits for simulated time"
    redrive.advance(20)
    assert waiting.result(timeout=10) == []

    in_dlq = poll(dlq_url)
    assert len(in_dlq) == 1
    m = in_dlq[0]
    assert m["MessageId"] == sent["MessageId"]
    assert m["Body"] == "poisoned message"
    assert count_of(m) == 6
    assert m["Attributes"]["SentTimestamp"] == seen[0]["Attributes"]["SentTimestamp"]
    assert m["Attributes"]["SenderId"] == seen[0]["Attributes"]["SenderId"]
    assert m["Attributes"]["DeadLetterQueueSourceArn"] == redrive.queue_arn("ingestions-queue")
    redrive.advance(5)

    # Redrive to the same source, rate limited.
    sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)
    task = wait_moved_and_held(sqs, dlq_arn, 1)
    assert task["MaxNumberOfMessagesPerSecond"] == 1
    redrive.advance(1)
    wait_status(sqs, dlq_arn, "COMPLETED")
    # The fixed consumer processes it and deletes it.
    got = poll(url)
    assert [x["Body"] for x in got] == ["poisoned message"]
    assert count_of(got[0]) == 1
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert redrive.counts(url) == (0, 0, 0)


# --- RedrivePolicy -------------------------------------------------------------------------


def redrive_policy_cases(redrive, dlq_arn, dlq_name):
    reason = lambda raw, r: invalid(f"Value {raw} for parameter RedrivePolicy is invalid. Reason: {r}")  # noqa: E731
    rng = lambda n: f"Invalid value for maxReceiveCount: {n}, valid values are from 1 to 1000 both inclusive."  # noqa: E731
    extra = f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":3,"extra":1}}'
    only_target = f'{{"deadLetterTargetArn":"{dlq_arn}"}}'
    dummy = '{"deadLetterTargetArn": "dummy", "maxReceiveCount": 42}'
    sns = policy(f"arn:aws:sns:{REGION}:{ACCOUNT}:{dlq_name}")
    missing = policy(redrive.queue_arn("no-such-dlq"))
    region = policy(f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{dlq_name}")
    account = policy(f"arn:aws:sqs:{REGION}:111111111111:{dlq_name}")
    return [
        (
            "{not json",
            (
                400,
                "InvalidAttributeValue",
                "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.",
            ),
        ),
        ("{}", reason("{}", "Redrive policy does not contain mandatory attribute: maxReceiveCount.")),
        (only_target, reason(only_target, "Redrive policy does not contain mandatory attribute: maxReceiveCount.")),
        (
            '{"maxReceiveCount":3}',
            reason('{"maxReceiveCount":3}', "Redrive policy does not contain mandatory attribute: deadLetterTargetArn."),
        ),
        (extra, reason(extra, "Only following attributes are supported: [maxReceiveCount, deadLetterTargetArn].")),
        (policy(dlq_arn, "0"), reason(policy(dlq_arn, "0"), rng(0))),
        (policy(dlq_arn, "1001"), reason(policy(dlq_arn, "1001"), rng(1001))),
        (policy(dlq_arn, '"1001"'), reason(policy(dlq_arn, '"1001"'), rng(1001))),
        (dummy, reason(dummy, "Invalid value for deadLetterTargetArn.")),
        (sns, reason(sns, "Only SQS queues are valid resources for deadLetterTargetArn.")),
        (missing, reason(missing, "Dead letter target does not exist.")),
        (region, reason(region, "Dead letter target does not exist.")),
        (account, reason(account, "Dead letter target does not exist.")),
    ]


def test_every_bad_redrive_policy_is_refused_with_aws_reasons(redrive, sqs):
    dlq_name, dlq_url = redrive.create_queue("bad-dlq")
    dlq_arn = redrive.queue_arn(dlq_name)
    _, existing = redrive.create_queue("bad-existing")
    new_name = redrive.unique("bad-new")
    for raw, expected in redrive_policy_cases(redrive, dlq_arn, dlq_name):
        got = failure(sqs.create_queue, QueueName=new_name, Attributes={"RedrivePolicy": raw})
        assert got == expected, f"CreateQueue RedrivePolicy={raw}"
        got = failure(sqs.set_queue_attributes, QueueUrl=existing, Attributes={"RedrivePolicy": raw})
        assert got == expected, f"SetQueueAttributes RedrivePolicy={raw}"
    assert sqs.list_queues(QueueNamePrefix=new_name).get("QueueUrls", []) == []
    assert "RedrivePolicy" not in redrive.attributes(existing)
    assert sources_of(sqs, dlq_url) == []


def test_invalid_parameter_value_is_typed_as_aws_types_it(redrive, sqs):
    _, existing = redrive.create_queue("typed")
    with pytest.raises(ClientError) as excinfo:
        sqs.set_queue_attributes(QueueUrl=existing, Attributes={"RedrivePolicy": policy(redrive.queue_arn("nope"))})
    assert excinfo.value.response["Error"]["QueryErrorCode"] == "InvalidParameterValueException"
    with pytest.raises(sqs.exceptions.ResourceNotFoundException) as excinfo:
        sqs.start_message_move_task(SourceArn=redrive.queue_arn("nope"))
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_redrive_policy_is_stored_normalized_and_empty_removes_it(redrive, sqs):
    dlq_name, dlq_url = redrive.create_queue("norm-dlq")
    dlq_arn = redrive.queue_arn(dlq_name)
    _, as_string = redrive.create_queue("norm-s", RedrivePolicy=policy(dlq_arn, '"3"'))
    _, as_number = redrive.create_queue("norm-n", RedrivePolicy=policy(dlq_arn, "3"))
    _, highest = redrive.create_queue(
        "norm-h", RedrivePolicy=f'{{ "maxReceiveCount" : 1000 , "deadLetterTargetArn" : "{dlq_arn}" }}'
    )
    _, lowest = redrive.create_queue("norm-l", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}))
    assert redrive.attributes(as_string, "RedrivePolicy") == {"RedrivePolicy": normalized(dlq_arn, 3)}
    assert redrive.attributes(as_number, "RedrivePolicy") == {"RedrivePolicy": normalized(dlq_arn, 3)}
    assert redrive.attributes(highest, "RedrivePolicy") == {"RedrivePolicy": normalized(dlq_arn, 1000)}
    assert redrive.attributes(lowest, "RedrivePolicy") == {"RedrivePolicy": normalized(dlq_arn, 1)}
    assert json.loads(redrive.attributes(as_string, "RedrivePolicy")["RedrivePolicy"])["maxReceiveCount"] == 3
    assert sources_of(sqs, dlq_url) == sorted([as_string, as_number, highest, lowest])

    # Omitted until set; "" removes it (and the queue stops being a source).
    _, plain = redrive.create_queue("norm-p")
    assert "RedrivePolicy" not in redrive.attributes(plain)
    sqs.set_queue_attributes(QueueUrl=plain, Attributes={"RedrivePolicy": policy(dlq_arn, '"7"')})
    assert redrive.attributes(plain, "RedrivePolicy") == {"RedrivePolicy": normalized(dlq_arn, 7)}
    for url in (plain, as_string):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})
        assert "RedrivePolicy" not in redrive.attributes(url)
    assert sources_of(sqs, dlq_url) == sorted([as_number, highest, lowest])


def test_the_json_wire_answers_as_aws_does(redrive, sqs):
    """Empty lists are omitted (`{}`); errors carry AWS's `__type` and `x-amzn-query-error`."""
    dlq_name, dlq_url = redrive.create_queue("wire")
    dlq_arn = redrive.queue_arn(dlq_name)
    auth = "AWS4-HMAC-SHA256 Credential=AKIDREDRIVETEST/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x"

    def call(target, body):
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{target}", "Authorization": auth}
        status, resp_headers, raw = redrive.http("POST", "/", data=json.dumps(body).encode(), headers=headers)
        return status, resp_headers.get("x-amzn-query-error"), json.loads(raw)

    assert call("ListDeadLetterSourceQueues", {"QueueUrl": dlq_url}) == (200, None, {})
    assert call("ListMessageMoveTasks", {"SourceArn": dlq_arn}) == (200, None, {})
    assert call("StartMessageMoveTask", {"SourceArn": redrive.queue_arn("wire-nope")}) == (
        404,
        "ResourceNotFoundException;Sender",
        {
            "__type": "com.amazonaws.sqs#ResourceNotFoundException",
            "message": "The resource that you specified for the SourceArn parameter doesn't exist.",
        },
    )
    assert call("StartMessageMoveTask", {"SourceArn": dlq_arn}) == (
        400,
        "InvalidParameterValue;Sender",
        {
            "__type": "com.amazon.coral.service#InvalidParameterValueException",
            "message": "Source queue must be configured as a Dead Letter Queue.",
        },
    )
    _, src_url = redrive.create_queue("wire-src", RedrivePolicy=policy(dlq_arn))
    status, _, body = call("ListDeadLetterSourceQueues", {"QueueUrl": dlq_url})
    assert (status, body) == (200, {"queueUrls": [src_url]}), "the JSON member is lowercase queueUrls"


# --- RedriveAllowPolicy --------------------------------------------------------------------


def test_every_bad_redrive_allow_policy_is_refused_with_aws_reasons(redrive, sqs):
    _, dlq_url = redrive.create_queue("allow")
    some = redrive.queue_arn("some-source")
    cant = lambda raw, r: invalid(  # noqa: E731
        f"Value {raw} for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS can't create the redrive allow policy. {r}"
    )
    unsupported = (
        400,
        "InvalidAttributeValue",
        "Invalid value for the parameter RedriveAllowPolicy. Reason: Amazon SQS can't create the redrive allow policy, "
        "as it\u2019s in an unsupported format.",
    )
    need_arns = "When you specify the byQueue permission type, you must also specify one or more sourceQueueArns values."
    need_by_queue = "To specify one or more source queue ARNs, you must set redrivePermission to byQueue."
    eleven = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [f"{some}-{i}" for i in range(11)]})
    cases = [
        ('{"redrivePermission":"byQueue"}', cant('{"redrivePermission":"byQueue"}', need_arns)),
        (
            '{"redrivePermission":"byQueue","sourceQueueArns":[]}',
            cant('{"redrivePermission":"byQueue","sourceQueueArns":[]}', need_arns),
        ),
        (
            f'{{"redrivePermission":"allowAll","sourceQueueArns":["{some}"]}}',
            cant(f'{{"redrivePermission":"allowAll","sourceQueueArns":["{some}"]}}', need_by_queue),
        ),
        (
            f'{{"redrivePermission":"denyAll","sourceQueueArns":["{some}"]}}',
            cant(f'{{"redrivePermission":"denyAll","sourceQueueArns":["{some}"]}}', need_by_queue),
        ),
        (eleven, cant(eleven, "The maximum number of source queue ARNs you can specify is 10.")),
        ("{nope", unsupported),
        ('{"redrivePermission":"sometimes"}', unsupported),
        ("[]", unsupported),
    ]
    for raw, expected in cases:
        assert failure(sqs.set_queue_attributes, QueueUrl=dlq_url, Attributes={"RedriveAllowPolicy": raw}) == expected, raw
    assert "RedriveAllowPolicy" not in redrive.attributes(dlq_url)

    ten = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [f"{some}-{i}" for i in range(10)]})
    for good in ('{"redrivePermission":"allowAll"}', '{"redrivePermission":"denyAll"}', ten):
        sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"RedriveAllowPolicy": good})
        assert json.loads(redrive.attributes(dlq_url, "RedriveAllowPolicy")["RedriveAllowPolicy"]) == json.loads(good)
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"RedriveAllowPolicy": ""})
    assert "RedriveAllowPolicy" not in redrive.attributes(dlq_url)


def test_redrive_allow_policy_is_enforced(redrive, sqs):
    deny_name, deny_url = redrive.create_queue("deny", RedriveAllowPolicy='{"redrivePermission":"denyAll"}')
    listed_name, listed_url = redrive.create_queue("listed")
    _, other_url = redrive.create_queue("other")
    by_queue = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [redrive.queue_arn(listed_name)]})
    choosy_name, choosy_url = redrive.create_queue("choosy", RedriveAllowPolicy=by_queue)

    to_deny = policy(redrive.queue_arn(deny_name))
    status, code, message = failure(sqs.create_queue, QueueName=redrive.unique("newsrc"), Attributes={"RedrivePolicy": to_deny})
    assert (status, code) == (400, "InvalidParameterValue")
    assert message.startswith(f"Value {to_deny} for parameter RedrivePolicy is invalid."), message
    status, code, _ = failure(sqs.set_queue_attributes, QueueUrl=listed_url, Attributes={"RedrivePolicy": to_deny})
    assert (status, code) == (400, "InvalidParameterValue")
    assert sources_of(sqs, deny_url) == []

    to_choosy = policy(redrive.queue_arn(choosy_name))
    status, code, message = failure(sqs.set_queue_attributes, QueueUrl=other_url, Attributes={"RedrivePolicy": to_choosy})
    assert (status, code) == (400, "InvalidParameterValue")
    assert message.startswith(f"Value {to_choosy} for parameter RedrivePolicy is invalid."), message
    sqs.set_queue_attributes(QueueUrl=listed_url, Attributes={"RedrivePolicy": to_choosy})
    assert sources_of(sqs, choosy_url) == [listed_url]
    assert "RedrivePolicy" not in redrive.attributes(other_url)

    # allowAll admits anyone; so does lifting the denial.
    sqs.set_queue_attributes(QueueUrl=deny_url, Attributes={"RedriveAllowPolicy": '{"redrivePermission":"allowAll"}'})
    sqs.set_queue_attributes(QueueUrl=other_url, Attributes={"RedrivePolicy": to_deny})
    assert sources_of(sqs, deny_url) == [other_url]


# --- move-task errors ----------------------------------------------------------------------


def test_start_message_move_task_errors(redrive, sqs):
    src_url, src_arn, dlq_url, dlq_arn = source_and_dlq(redrive, "smt")
    plain_name, plain_url = redrive.create_queue("smt-plain")
    plain_arn = redrive.queue_arn(plain_name)
    start = sqs.start_message_move_task
    fmt = "You must use this format to specify the {}: arn:<partition>:<service>:<region>:<account-id>:<resource-id>"
    rate = "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500."
    assert failure(start, SourceArn=plain_arn) == invalid("Source queue must be configured as a Dead Letter Queue.")
    assert failure(start, SourceArn=src_arn) == invalid("Source queue must be configured as a Dead Letter Queue.")
    assert failure(start, SourceArn=redrive.queue_arn("no-such")) == not_found(
        "The resource that you specified for the SourceArn parameter doesn't exist."
    )
    assert failure(start, SourceArn=dlq_arn, DestinationArn=redrive.queue_arn("no-such")) == not_found(
        "The resource that you specified for the DestinationArn parameter doesn't exist."
    )
    assert failure(start, SourceArn=dlq_arn, DestinationArn=dlq_arn) == invalid(
        "Source queue arn and destination queue arn cannot be the same."
    )
    for bad in ("not-an-arn", "arn:aws:sqs", ""):
        assert failure(start, SourceArn=bad) == invalid(fmt.format("SourceArn")), bad
        assert failure(start, SourceArn=dlq_arn, DestinationArn=bad) == invalid(fmt.format("DestinationArn")), bad
    for bad in (0, 501):
        assert failure(start, SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=bad) == invalid(rate), bad
    assert tasks(sqs, dlq_arn, 10) == []

    dead_letter_all(redrive, src_url, dlq_url, numbered("m", 3))
    handle = start(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    wait_moved_and_held(sqs, dlq_arn, 1)
    running = "There is already a task running. Only one active task is allowed for a source queue arn at a given time."
    assert failure(start, SourceArn=dlq_arn) == invalid(running)
    assert failure(start, SourceArn=dlq_arn, DestinationArn=plain_arn, MaxNumberOfMessagesPerSecond=500) == invalid(running)
    listed = tasks(sqs, dlq_arn, 10)
    assert len(listed) == 1 and listed[0]["TaskHandle"] == handle
    sqs.cancel_message_move_task(TaskHandle=handle)
    redrive.advance(1)
    wait_status(sqs, dlq_arn, "CANCELLED")
    # No longer active: a new task may start.
    start(SourceArn=dlq_arn, DestinationArn=plain_arn, MaxNumberOfMessagesPerSecond=500)
    task = wait_status(sqs, dlq_arn, "COMPLETED")
    assert task["ApproximateNumberOfMessagesMoved"] == 2
    assert task["MaxNumberOfMessagesPerSecond"] == 500
    assert task["DestinationArn"] == plain_arn
    assert drain(redrive, plain_url) == ["m-01", "m-02"]


def test_cancel_message_move_task_errors(redrive, sqs):
    src_url, src_arn, dlq_url, dlq_arn = source_and_dlq(redrive, "cx")
    cancel = sqs.cancel_message_move_task
    assert failure(cancel, TaskHandle="foobared") == invalid("Value for parameter TaskHandle is invalid.")
    assert failure(cancel, TaskHandle=base64.b64encode(b"not json").decode()) == invalid(
        "Value for parameter TaskHandle is invalid."
    )
    task_id = str(uuid.uuid4())
    assert failure(cancel, TaskHandle=handle_of(task_id, redrive.queue_arn("no-such"))) == not_found(
        "The resource that you specified for the SourceArn parameter doesn't exist."
    )
    assert failure(cancel, TaskHandle=handle_of(task_id, dlq_arn)) == not_found("Task does not exist.")

    dead_letter_all(redrive, src_url, dlq_url, ["one"])
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    wait_status(sqs, dlq_arn, "COMPLETED")
    assert failure(cancel, TaskHandle=handle) == invalid("Only active tasks can be cancelled.")
    assert failure(cancel, TaskHandle=handle_of(decode_handle(handle)["taskId"], src_arn)) == not_found(
        "Task does not exist."
    )


def test_list_message_move_tasks_errors_order_and_default(redrive, sqs):
    src_url, _, dlq_url, dlq_arn = source_and_dlq(redrive, "lt")
    bad_max = "Value for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10."
    for bad in (0, 11):
        assert failure(sqs.list_message_move_tasks, SourceArn=dlq_arn, MaxResults=bad) == invalid(bad_max), bad
    assert failure(sqs.list_message_move_tasks, SourceArn=redrive.queue_arn("no-such")) == not_found(
        "The resource that you specified for the SourceArn parameter doesn't exist."
    )
    assert "Results" not in sqs.list_message_move_tasks(SourceArn=dlq_arn), "no tasks: Results omitted"

    for n in (1, 2, 3):
        dead_letter_all(redrive, src_url, dlq_url, numbered(f"round{n}", n))
        sqs.start_message_move_task(SourceArn=dlq_arn)
        assert wait_status(sqs, dlq_arn, "COMPLETED")["ApproximateNumberOfMessagesMoved"] == n
        for m in redrive.receive_all(src_url):
            sqs.delete_message(QueueUrl=src_url, ReceiptHandle=m["ReceiptHandle"])
        redrive.advance(1)
    assert [t["ApproximateNumberOfMessagesMoved"] for t in tasks(sqs, dlq_arn)] == [3], "default MaxResults 1"
    assert [t["ApproximateNumberOfMessagesMoved"] for t in tasks(sqs, dlq_arn, 2)] == [3, 2]
    every = tasks(sqs, dlq_arn, 10)
    assert [t["ApproximateNumberOfMessagesMoved"] for t in every] == [3, 2, 1], "newest first"
    stamps = [t["StartedTimestamp"] for t in every]
    assert stamps == sorted(stamps, reverse=True) and len(set(stamps)) == 3
    assert all(set(t) == TASK_ENTRY_KEYS_DEFAULTS and t["Status"] == "COMPLETED" for t in every)


# --- where messages go ---------------------------------------------------------------------


def shared_dlq(redrive):
    dlq_name, dlq_url = redrive.create_queue("shared-dlq")
    dlq_arn = redrive.queue_arn(dlq_name)
    a_name, a_url = redrive.create_queue("src-a", RedrivePolicy=policy(dlq_arn, "1"))
    b_name, b_url = redrive.create_queue("src-b", RedrivePolicy=policy(dlq_arn, "1"))
    # Interleaved in the DLQ: a0 b0 a1 b1 a2.
    for i in range(3):
        dead_letter_all(redrive, a_url, dlq_url, [f"a{i}"])
        if i < 2:
            dead_letter_all(redrive, b_url, dlq_url, [f"b{i}"])
    return dlq_url, dlq_arn, (a_name, a_url), (b_name, b_url)


def test_two_sources_sharing_a_dlq_get_their_own_messages_back(redrive, sqs):
    dlq_url, dlq_arn, (a_name, a_url), (b_name, b_url) = shared_dlq(redrive)
    assert sources_of(sqs, dlq_url) == sorted([a_url, b_url])
    peek = receive(sqs, dlq_url, VisibilityTimeout=0)
    assert {m["Body"]: m["Attributes"]["DeadLetterQueueSourceArn"] for m in peek} == {
        "a0": redrive.queue_arn(a_name),
        "a1": redrive.queue_arn(a_name),
        "a2": redrive.queue_arn(a_name),
        "b0": redrive.queue_arn(b_name),
        "b1": redrive.queue_arn(b_name),
    }
    sqs.start_message_move_task(SourceArn=dlq_arn)
    task = wait_status(sqs, dlq_arn, "COMPLETED")
    assert (task["ApproximateNumberOfMessagesMoved"], task["ApproximateNumberOfMessagesToMove"]) == (5, 5)
    assert "DestinationArn" not in task
    assert redrive.counts(dlq_url) == (0, 0, 0)
    in_a, in_b = receive(sqs, a_url), receive(sqs, b_url)
    assert sorted(m["Body"] for m in in_a) == ["a0", "a1", "a2"]
    assert sorted(m["Body"] for m in in_b) == ["b0", "b1"]
    for m in in_a + in_b:
        assert count_of(m) == 1
        assert "DeadLetterQueueSourceArn" not in m["Attributes"]


def test_two_sources_sharing_a_dlq_all_go_to_the_destination(redrive, sqs):
    dlq_url, dlq_arn, (_, a_url), (_, b_url) = shared_dlq(redrive)
    dest_name, dest_url = redrive.create_queue("dest")
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=redrive.queue_arn(dest_name))
    task = wait_status(sqs, dlq_arn, "COMPLETED")
    assert task["DestinationArn"] == redrive.queue_arn(dest_name)
    assert task["ApproximateNumberOfMessagesMoved"] == 5
    assert redrive.counts(a_url) == redrive.counts(b_url) == redrive.counts(dlq_url) == (0, 0, 0)
    assert drain(redrive, dest_url) == ["a0", "a1", "a2", "b0", "b1"]


def test_message_attributes_survive_the_round_trip(redrive, sqs):
    src_url, src_arn, dlq_url, dlq_arn = source_and_dlq(redrive, "attrs")
    attributes = {
        "color": {"DataType": "String", "StringValue": "blue"},
        "count": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02\x03"},
    }
    sent = sqs.send_message(QueueUrl=src_url, MessageBody="attributed", MessageAttributes=attributes)
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes) == "d838729972a4b70e2d2acd9d59ac847c"
    assert len(receive(sqs, src_url, VisibilityTimeout=0)) == 1
    assert receive(sqs, src_url) == []
    (m,) = receive(sqs, dlq_url, VisibilityTimeout=0)
    assert m["MessageId"] == sent["MessageId"]
    assert m["MessageAttributes"] == attributes
    assert m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert m["Attributes"]["DeadLetterQueueSourceArn"] == src_arn
    sqs.start_message_move_task(SourceArn=dlq_arn)
    wait_status(sqs, dlq_arn, "COMPLETED")
    (back,) = receive(sqs, src_url)
    assert back["Body"] == "attributed"
    assert back["MessageAttributes"] == attributes
    assert back["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert back["MessageId"] != sent["MessageId"]


# --- velocity, cancel, failure --------------------------------------------------------------


def test_velocity_is_capped_per_clock_second(redrive, sqs):
    src_url, _, dlq_url, dlq_arn = source_and_dlq(redrive, "velocity")
    bodies = numbered("v", 25)
    dead_letter_all(redrive, src_url, dlq_url, bodies)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=10)["TaskHandle"]
    task = wait_moved_and_held(sqs, dlq_arn, 10)
    assert task["TaskHandle"] == handle, "listed with its handle while RUNNING"
    assert task["MaxNumberOfMessagesPerSecond"] == 10
    assert task["ApproximateNumberOfMessagesToMove"] == 25
    assert "DestinationArn" not in task
    assert redrive.counts(dlq_url)[0] == 15 and redrive.counts(src_url)[0] == 10
    redrive.advance(1)
    wait_moved_and_held(sqs, dlq_arn, 20)
    assert redrive.counts(dlq_url)[0] == 5 and redrive.counts(src_url)[0] == 20
    redrive.advance(1)
    done = wait_status(sqs, dlq_arn, "COMPLETED")
    assert done["ApproximateNumberOfMessagesMoved"] == 25
    assert "TaskHandle" not in done
    assert redrive.counts(dlq_url) == (0, 0, 0)
    assert drain(redrive, src_url) == bodies


def test_cancel_mid_task(redrive, sqs):
    src_url, _, dlq_url, dlq_arn = source_and_dlq(redrive, "cancel")
    bodies = numbered("c", 12)
    dead_letter_all(redrive, src_url, dlq_url, bodies)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=5)["TaskHandle"]
    wait_moved_and_held(sqs, dlq_arn, 5)
    assert sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"] == 5
    task = latest(sqs, dlq_arn)
    assert task["Status"] == "CANCELLING", "observable until the task next looks (the clock has not moved)"
    assert "TaskHandle" not in task
    assert failure(sqs.cancel_message_move_task, TaskHandle=handle) == invalid("Only active tasks can be cancelled.")
    redrive.advance(1)
    task = wait_status(sqs, dlq_arn, "CANCELLED")
    assert (task["ApproximateNumberOfMessagesMoved"], task["ApproximateNumberOfMessagesToMove"]) == (5, 12)
    assert "FailureReason" not in task and "TaskHandle" not in task
    redrive.advance(3)
    time.sleep(0.1)
    assert latest(sqs, dlq_arn)["ApproximateNumberOfMessagesMoved"] == 5
    assert redrive.counts(dlq_url)[0] == 7, "unmoved messages stay in the DLQ"
    moved, left = drain(redrive, src_url), drain(redrive, dlq_url)
    assert len(moved) == 5, "moved messages stay moved"
    assert sorted(moved + left) == bodies


def test_destination_deleted_mid_task_fails_it(redrive, sqs):
    src_url, _, dlq_url, dlq_arn = source_and_dlq(redrive, "doomed")
    dest_name, dest_url = redrive.create_queue("doomed-dest")
    dead_letter_all(redrive, src_url, dlq_url, numbered("d", 12))
    sqs.start_message_move_task(
        SourceArn=dlq_arn, DestinationArn=redrive.queue_arn(dest_name), MaxNumberOfMessagesPerSecond=5
    )
    wait_moved_and_held(sqs, dlq_arn, 5)
    sqs.delete_queue(QueueUrl=dest_url)
    redrive.advance(1)
    task = wait_status(sqs, dlq_arn, "FAILED")
    assert task["FailureReason"] == NON_EXISTENT_QUEUE
    assert (task["ApproximateNumberOfMessagesMoved"], task["ApproximateNumberOfMessagesToMove"]) == (5, 12)
    assert task["DestinationArn"] == redrive.queue_arn(dest_name)
    assert task["MaxNumberOfMessagesPerSecond"] == 5
    assert "TaskHandle" not in task
    redrive.advance(2)
    assert redrive.counts(dlq_url) == (7, 0, 0), "unmoved messages remain in the DLQ"
    assert redrive.counts(src_url) == (0, 0, 0)


# --- when messages do (not) move ------------------------------------------------------------


def test_an_expiring_visibility_timeout_alone_moves_nothing(redrive, sqs):
    src_url, _, dlq_url, _ = source_and_dlq(redrive, "idle")
    sent = sqs.send_message(QueueUrl=src_url, MessageBody="received once")
    assert len(receive(sqs, src_url)) == 1
    for _ in range(3):
        redrive.advance(31)
        assert redrive.counts(src_url) == (1, 0, 0)
        assert redrive.counts(dlq_url) == (0, 0, 0)
    assert receive(sqs, src_url) == [], "the next receive hands it off"
    (m,) = receive(sqs, dlq_url)
    assert m["MessageId"] == sent["MessageId"]
    assert count_of(m) == 2


def test_a_deleted_dlq_leaves_messages_in_the_source(redrive, sqs):
    src_url, _, dlq_url, _ = source_and_dlq(redrive, "orphan", count="2")
    sent = sqs.send_message(QueueUrl=src_url, MessageBody="stays home")
    sqs.delete_queue(QueueUrl=dlq_url)
    for expected in range(1, 6):
        got = receive(sqs, src_url)
        assert [m["MessageId"] for m in got] == [sent["MessageId"]], f"receive {expected}"
        assert count_of(got[0]) == expected
        redrive.advance(31)
    assert redrive.counts(src_url) == (1, 0, 0)


def test_a_standard_dlq_keeps_the_original_enqueue_time(redrive, sqs):
    """Retention in a standard DLQ counts from the original send (AWS docs; seed 004)."""
    dlq_name, dlq_url = redrive.create_queue("aged-dlq", MessageRetentionPeriod=120)
    _, src_url = redrive.create_queue("aged", RedrivePolicy=policy(redrive.queue_arn(dlq_name), "1"))
    sqs.send_message(QueueUrl=src_url, MessageBody="ageing")
    assert len(receive(sqs, src_url)) == 1
    redrive.advance(31)
    assert receive(sqs, src_url) == []
    assert redrive.counts(dlq_url) == (1, 0, 0)
    redrive.advance(60)
    assert redrive.counts(dlq_url) == (1, 0, 0), "91 s after the send"
    redrive.advance(30)
    assert redrive.counts(dlq_url) == (0, 0, 0), "121 s after the send: past the DLQ's retention"


def test_long_polls_wake_on_dead_letter_and_redrive(redrive, sqs):
    src_url, _, dlq_url, dlq_arn = source_and_dlq(redrive, "wake")
    poller = redrive.client()
    waiting = Background(poller.receive_message, QueueUrl=dlq_url, WaitTimeSeconds=20)
    time.sleep(0.1)
    assert not waiting.done()
    sqs.send_message(QueueUrl=src_url, MessageBody="wake up")
    assert len(sqs.receive_message(QueueUrl=src_url, VisibilityTimeout=0).get("Messages", [])) == 1
    assert sqs.receive_message(QueueUrl=src_url).get("Messages", []) == []
    got = waiting.result(timeout=5)
    assert [m["Body"] for m in got["Messages"]] == ["wake up"], "woken by the hand-off, no clock movement"
    redrive.advance(31)

    waiting = Background(poller.receive_message, QueueUrl=src_url, WaitTimeSeconds=20)
    time.sleep(0.1)
    assert not waiting.done()
    sqs.start_message_move_task(SourceArn=dlq_arn)
    got = waiting.result(timeout=5)
    assert [m["Body"] for m in got["Messages"]] == ["wake up"], "woken by the redrive"


def test_fifo_dead_letter_and_redrive(redrive, sqs):
    dlq_name = redrive.unique("fdlq") + ".fifo"
    dlq_url = sqs.create_queue(QueueName=dlq_name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = redrive.queue_arn(dlq_name)
    src_name = redrive.unique("fsrc") + ".fifo"
    src_url = sqs.create_queue(
        QueueName=src_name,
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", "RedrivePolicy": policy(dlq_arn, "1")},
    )["QueueUrl"]
    _, std_dlq_url = redrive.create_queue("std-dlq")
    std_dlq_arn = redrive.queue_arn(std_dlq_url.rsplit("/", 1)[1])
    _, std_src_url = redrive.create_queue("std-src", RedrivePolicy=policy(std_dlq_arn))

    to_fifo = policy(dlq_arn)
    assert failure(sqs.set_queue_attributes, QueueUrl=std_src_url, Attributes={"RedrivePolicy": to_fifo}) == invalid(
        f"Value {to_fifo} for parameter RedrivePolicy is invalid. Reason: "
        "Dead-letter queue must be same type of queue as the source.."
    )
    assert failure(sqs.start_message_move_task, SourceArn=std_dlq_arn, DestinationArn=dlq_arn) == invalid(
        "The source queue and destination queue must be of the same queue type."
    )

    sent = sqs.send_message(QueueUrl=src_url, MessageBody="fifo poison", MessageGroupId="g1")
    assert len(receive(sqs, src_url)) == 1
    redrive.advance(31)
    assert receive(sqs, src_url) == []
    (m,) = receive(sqs, dlq_url, VisibilityTimeout=0)
    assert m["MessageId"] == sent["MessageId"]
    assert m["Attributes"]["MessageGroupId"] == "g1"
    assert m["Attributes"]["DeadLetterQueueSourceArn"] == redrive.queue_arn(src_name)
    assert count_of(m) == 2
    sqs.start_message_move_task(SourceArn=dlq_arn)
    assert wait_status(sqs, dlq_arn, "COMPLETED")["ApproximateNumberOfMessagesMoved"] == 1
    (back,) = receive(sqs, src_url)
    assert back["Body"] == "fifo poison"
    assert back["Attributes"]["MessageGroupId"] == "g1"
    assert count_of(back) == 1
    assert back["MessageId"] != sent["MessageId"]


# --- durability ------------------------------------------------------------------------------


class DurableServer(ServerProcess):
    """A server on a data directory (not --in-memory), still with the manual clock."""

    def __init__(self, data_dir, log_dir):
        super().__init__(log_dir=log_dir)
        self.args = ["--data-dir", str(data_dir), "--bind", "127.0.0.1:0", "--manual-clock"]


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_a_rate_limited_task_survives_a_restart(tmp_path, stop):
    data_dir, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    first = DurableServer(data_dir, logs).start()
    try:
        r = Redrive(first)
        # No clock movement: the next server's clock starts at the real time again.
        src_name, src_url = r.create_queue("durable-dlq")
        dlq_arn = r.queue_arn(src_name)
        dlq_url = src_url
        source_name, source_url = r.create_queue("durable", RedrivePolicy=policy(dlq_arn, "1"))
        bodies = numbered("d", 20)
        dead_letter_all(r, source_url, dlq_url, bodies)
        handle = r.sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=5)["TaskHandle"]
        wait_moved_and_held(r.sqs, dlq_arn, 5)
    finally:
        if stop == "SIGKILL" and first.proc is not None:
            first.proc.kill()
            first.proc.wait(timeout=10)
        else:
            assert first.stop() == 0

    second = DurableServer(data_dir, logs).start()
    try:
        r = Redrive(second)
        source_url, dlq_url = r.queue_url(source_name), r.queue_url(src_name)
        task = latest(r.sqs, dlq_arn)
        assert task["TaskHandle"] == handle, "the same task, still RUNNING"
        assert task["ApproximateNumberOfMessagesToMove"] == 20
        wait_moved_and_held(r.sqs, dlq_arn, 10)
        assert r.counts(source_url)[0] == 10 and r.counts(dlq_url)[0] == 10, "each message in exactly one queue"
        for n in (15, 20):
            r.advance(1)
            wait_moved_and_held(r.sqs, dlq_arn, n)
        r.advance(1)
        assert wait_status(r.sqs, dlq_arn, "COMPLETED")["ApproximateNumberOfMessagesMoved"] == 20
        assert r.counts(dlq_url) == (0, 0, 0)
        assert drain(r, source_url) == bodies, "nothing lost, nothing duplicated"
    finally:
        assert second.stop() == 0


def test_a_queue_created_again_under_the_name_of_a_deleted_dlq_has_no_task_history(redrive, sqs):
    src_url, _, dlq_url, dlq_arn = source_and_dlq(redrive, "rehist")
    dead_letter_all(redrive, src_url, dlq_url, ["one"])
    sqs.start_message_move_task(SourceArn=dlq_arn)
    wait_status(sqs, dlq_arn, "COMPLETED")
    sqs.delete_queue(QueueUrl=dlq_url)
    redrive.advance(61)
    sqs.create_queue(QueueName=dlq_arn.rsplit(":", 1)[1])
    assert tasks(sqs, dlq_arn, 10) == []


def test_tasks_started_in_one_millisecond_keep_newest_first_across_a_restart(tmp_path):
    server = ServerProcess(args=["--data-dir", str(tmp_path / "data")], in_memory=False, log_dir=tmp_path).start()
    try:
        r = Redrive(server)
        src_url, _, dlq_url, dlq_arn = source_and_dlq(r, "order")
        dest_name, _ = r.create_queue("order-dest")
        for n in range(1, 5):
            dead_letter_all(r, src_url, dlq_url, [f"m{n}"])
            r.sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=r.queue_arn(dest_name))
            wait_status(r.sqs, dlq_arn, "COMPLETED")
        before = [t["ApproximateNumberOfMessagesToMove"] for t in tasks(r.sqs, dlq_arn, 10)]
        assert before == [1, 1, 1, 1]
        started = [t["StartedTimestamp"] for t in tasks(r.sqs, dlq_arn, 10)]
        assert started == sorted(set(started), reverse=True), "distinct start times, newest first"
    finally:
        assert server.stop() == 0
    server = ServerProcess(args=["--data-dir", str(tmp_path / "data")], in_memory=False, log_dir=tmp_path).start()
    try:
        r = Redrive(server)
        assert [t["StartedTimestamp"] for t in tasks(r.sqs, dlq_arn, 10)] == started
    finally:
        assert server.stop() == 0
