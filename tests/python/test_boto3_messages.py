"""Messages through boto3 (AWS JSON 1.0 protocol): send, receive, delete, attributes and their
MD5 digests, visibility, delays, retention, long polling, purge and size limits."""

from __future__ import annotations

import re
import time

import pytest

from redrive_helpers import Background, aws_error, md5_hex, md5_of_attributes

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def receive_one(sqs, url, **kwargs) -> dict:
    msgs = sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", [])
    assert len(msgs) == 1, f"expected one message, got {msgs}"
    return msgs[0]


def receive_none(sqs, url, **kwargs) -> None:
    msgs = sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", [])
    assert msgs == [], f"expected no message, got {msgs}"


def plain_attributes(attrs: dict) -> dict:
    """Only the fields a sender sets, so empty list fields do not matter in comparisons."""
    out = {}
    for name, attr in attrs.items():
        entry = {"DataType": attr["DataType"]}
        for key in ("StringValue", "BinaryValue"):
            if key in attr:
                entry[key] = attr[key]
        out[name] = entry
    return out


# --- send / receive / delete ----------------------------------------------------


def test_send_receive_delete(redrive, sqs, queue):
    _, url = queue
    body = "hello, redrive"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body)
    assert UUID_RE.match(sent["MessageId"])
    assert sent["MD5OfMessageBody"] == md5_hex(body)
    assert "MD5OfMessageAttributes" not in sent
    assert "MD5OfMessageSystemAttributes" not in sent

    msg = receive_one(sqs, url)
    assert msg["MessageId"] == sent["MessageId"]
    assert msg["Body"] == body
    assert msg["MD5OfBody"] == md5_hex(body)
    assert msg["ReceiptHandle"]
    assert "MessageAttributes" not in msg

    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert redrive.counts(url) == (0, 0, 0)
    redrive.advance(31)
    receive_none(sqs, url)


def test_unicode_and_whitespace_bodies_round_trip(sqs, queue):
    _, url = queue
    bodies = ["tab\tnew\nline\rcr", "accents: éàü ✓", "astral: 😀 𝄞", "private: \ue000 \ufffd", '<xml a="1">&amp;</xml>']
    for body in bodies:
        assert sqs.send_message(QueueUrl=url, MessageBody=body)["MD5OfMessageBody"] == md5_hex(body)
    got = []
    for _ in range(10):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            assert m["MD5OfBody"] == md5_hex(m["Body"])
            got.append(m["Body"])
    assert sorted(got) == sorted(bodies)


# Bodies made only of characters outside the allowed set (#x9 | #xA | #xD | #x20-#xD7FF |
# #xE000-#xFFFD | #x10000-#x10FFFF). Mixed bodies are left out: AWS documents that it may now
# replace invalid characters with U+FFFD when the body also has valid ones.
@pytest.mark.parametrize("bad", ["\x00", "\x01\x02", "\x0b", "\x07\x1f", "\uffff", "\ufffe"])
def test_invalid_characters_are_rejected(redrive, sqs, queue, bad):
    _, url = queue
    with aws_error("InvalidMessageContents", 400):
        sqs.send_message(QueueUrl=url, MessageBody=bad)
    assert redrive.counts(url) == (0, 0, 0)


def test_empty_body_is_missing_parameter(sqs, queue):
    _, url = queue
    with aws_error("MissingParameter", 400):
        sqs.send_message(QueueUrl=url, MessageBody="")


def test_one_mebibyte_body_limit(redrive, sqs, queue):
    _, url = queue
    body = "a" * 1_048_576
    sent = sqs.send_message(QueueUrl=url, MessageBody=body)
    assert sent["MD5OfMessageBody"] == md5_hex(body)
    with aws_error("InvalidParameterValue", 400):
        sqs.send_message(QueueUrl=url, MessageBody=body + "a")
    msg = receive_one(sqs, url)
    assert len(msg["Body"]) == 1_048_576
    assert msg["MD5OfBody"] == sent["MD5OfMessageBody"]


def test_maximum_message_size_counts_bytes(redrive, sqs):
    _, url = redrive.create_queue("maxsize", MaximumMessageSize=1024)
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)
    sqs.send_message(QueueUrl=url, MessageBody="é" * 512)  # 1024 bytes in UTF-8
    with aws_error("InvalidParameterValue", 400):
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)
    with aws_error("InvalidParameterValue", 400):
        sqs.send_message(QueueUrl=url, MessageBody="é" * 513)
    assert redrive.counts(url) == (2, 0, 0)


def test_message_size_counts_attributes(redrive, sqs):
    _, url = redrive.create_queue("attrsize", MaximumMessageSize=1024)
    # 1000 body bytes + "n" (1) + "String" (6) + value: 17 bytes fit exactly, 18 do not.
    fits = {"n": {"DataType": "String", "StringValue": "v" * 17}}
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1000, MessageAttributes=fits)
    too_big = {"n": {"DataType": "String", "StringValue": "v" * 18}}
    with aws_error("InvalidParameterValue", 400):
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1000, MessageAttributes=too_big)


def test_delete_with_invalid_receipt_handle(sqs, queue):
    _, url = queue
    with aws_error("ReceiptHandleIsInvalid", 404):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-receipt-handle")


def test_delete_twice_succeeds(redrive, sqs, queue):
    _, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="twice")
    msg = receive_one(sqs, url)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert redrive.counts(url) == (0, 0, 0)


def test_delete_with_latest_handle_after_visibility_expired(redrive, sqs, queue):
    _, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="late delete")
    msg = receive_one(sqs, url)
    redrive.advance(31)
    assert redrive.counts(url) == (1, 0, 0)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert redrive.counts(url) == (0, 0, 0)
    receive_none(sqs, url)


# --- message attributes -------------------------------------------------------------

ATTRS = {
    "text": {"DataType": "String", "StringValue": "hello ✓"},
    "count": {"DataType": "Number", "StringValue": "42"},
    "delta": {"DataType": "Number", "StringValue": "-12.5"},
    "price": {"DataType": "Number.float", "StringValue": "3.14159"},
    "label": {"DataType": "String.custom-label", "StringValue": "x"},
    "raw": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
    "image": {"DataType": "Binary.gif", "BinaryValue": b"GIF89a\x00\x01"},
}


def test_message_attributes_round_trip_with_md5(sqs, queue):
    _, url = queue
    body = "with attributes"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=ATTRS)
    assert sent["MD5OfMessageBody"] == md5_hex(body)
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(ATTRS)

    msg = receive_one(sqs, url, MessageAttributeNames=["All"])
    assert plain_attributes(msg["MessageAttributes"]) == ATTRS
    assert msg["MD5OfMessageAttributes"] == md5_of_attributes(ATTRS)
    assert msg["MD5OfBody"] == md5_hex(body)


def test_message_attributes_not_returned_unless_asked(redrive, sqs, queue):
    _, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="b", MessageAttributes=ATTRS)
    msg = receive_one(sqs, url, VisibilityTimeout=0)
    assert "MessageAttributes" not in msg
    assert "MD5OfMessageAttributes" not in msg
    msg = receive_one(sqs, url, MessageAttributeNames=["nothing-matches"], VisibilityTimeout=0)
    assert "MessageAttributes" not in msg
    assert "MD5OfMessageAttributes" not in msg
    for spelling in ("All", "*", ".*"):
        msg = receive_one(sqs, url, MessageAttributeNames=[spelling], VisibilityTimeout=0)
        assert plain_attributes(msg["MessageAttributes"]) == ATTRS, spelling
        assert msg["MD5OfMessageAttributes"] == md5_of_attributes(ATTRS)


def test_message_attribute_name_patterns(sqs, queue):
    _, url = queue
    attrs = {
        "color.red": {"DataType": "String", "StringValue": "ff0000"},
        "color.blue": {"DataType": "String", "StringValue": "0000ff"},
        "colorless": {"DataType": "String", "StringValue": "none"},
        "size": {"DataType": "Number", "StringValue": "7"},
    }
    sqs.send_message(QueueUrl=url, MessageBody="patterns", MessageAttributes=attrs)

    # "X.*" selects the names that start with X (AWS: "col.*" returns "color").
    msg = receive_one(sqs, url, MessageAttributeNames=["color.*"], VisibilityTimeout=0)
    want = {k: attrs[k] for k in ("color.red", "color.blue", "colorless")}
    assert plain_attributes(msg["MessageAttributes"]) == want
    assert msg["MD5OfMessageAttributes"] == md5_of_attributes(want)

    msg = receive_one(sqs, url, MessageAttributeNames=["size", "absent"], VisibilityTimeout=0)
    assert plain_attributes(msg["MessageAttributes"]) == {"size": attrs["size"]}
    assert msg["MD5OfMessageAttributes"] == md5_of_attributes({"size": attrs["size"]})

    msg = receive_one(sqs, url, MessageAttributeNames=["color.r.*"], VisibilityTimeout=0)
    assert set(msg["MessageAttributes"]) == {"color.red"}

    msg = receive_one(sqs, url, MessageAttributeNames=["size", "color.b.*"])
    assert set(msg["MessageAttributes"]) == {"size", "color.blue"}


@pytest.mark.parametrize(
    "attrs",
    [
        {"n": {"DataType": "Number", "StringValue": "not-a-number"}},
        {"t": {"DataType": "Unknown", "StringValue": "x"}},
        {"e": {"DataType": "String", "StringValue": ""}},
        {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)},
    ],
    ids=["bad-number", "bad-type", "empty-value", "eleven-attributes"],
)
def test_invalid_message_attributes(sqs, queue, attrs):
    _, url = queue
    with aws_error("InvalidParameterValue", 400):
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attrs)


def test_aws_trace_header_system_attribute(sqs, queue):
    _, url = queue
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    system = {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="traced", MessageSystemAttributes=system)
    assert sent["MD5OfMessageSystemAttributes"] == md5_of_attributes(system)
    msg = receive_one(sqs, url, MessageSystemAttributeNames=["AWSTraceHeader"])
    assert msg["Attributes"] == {"AWSTraceHeader": trace}


def test_x_amzn_trace_id_header_becomes_the_aws_trace_header(sqs, queue):
    # Recorded on AWS (X-Ray's SQS integration): the HTTP header X-Amzn-Trace-Id of
    # SendMessage and SendMessageBatch becomes each message's AWSTraceHeader, unless the
    # message sets that system attribute itself; it is not part of the send's digests.
    _, url = queue
    header = "Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1"
    own = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

    def add_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = header

    events = sqs.meta.events
    for op in ("SendMessage", "SendMessageBatch"):
        events.register(f"before-sign.sqs.{op}", add_header)
    try:
        sent = sqs.send_message(QueueUrl=url, MessageBody="from-header")
        assert "MD5OfMessageSystemAttributes" not in sent
        system = {"AWSTraceHeader": {"DataType": "String", "StringValue": own}}
        sqs.send_message(QueueUrl=url, MessageBody="own-attribute", MessageSystemAttributes=system)
        batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "b", "MessageBody": "batched"}])
        assert [e["Id"] for e in batch["Successful"]] == ["b"]
    finally:
        for op in ("SendMessage", "SendMessageBatch"):
            events.unregister(f"before-sign.sqs.{op}", add_header)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["AWSTraceHeader"])
    traces = {m["Body"]: m.get("Attributes", {}).get("AWSTraceHeader") for m in got["Messages"]}
    assert traces == {"from-header": header, "own-attribute": own, "batched": header}
    sqs.send_message(QueueUrl=url, MessageBody="no-header")
    plain = receive_one(sqs, url, MessageSystemAttributeNames=["AWSTraceHeader"])
    assert "AWSTraceHeader" not in plain.get("Attributes", {})


# --- system attributes on receive ---------------------------------------------------


def test_receive_system_attributes_all(redrive, sqs, queue):
    _, url = queue
    t0 = redrive.advance(1)
    sqs.send_message(QueueUrl=url, MessageBody="stamped")
    t1 = redrive.advance(1)
    msg = receive_one(sqs, url, MessageSystemAttributeNames=["All"])
    t2 = redrive.advance(1)
    attrs = msg["Attributes"]
    assert attrs["ApproximateReceiveCount"] == "1"
    assert t0 <= int(attrs["SentTimestamp"]) <= t1
    assert t1 <= int(attrs["ApproximateFirstReceiveTimestamp"]) <= t2
    assert attrs["SenderId"]
    assert "AWSTraceHeader" not in attrs


def test_receive_accepts_queue_attribute_names_the_sdk_models_allow_and_selects_nothing_by_them(sqs, queue):
    # AttributeNames is typed as QueueAttributeName in the SDK models (aws/aws-sdk#56).
    _, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="x")
    msg = receive_one(sqs, url, AttributeNames=["VisibilityTimeout", "SentTimestamp"])
    assert set(msg["Attributes"]) == {"SentTimestamp"}
    with aws_error("InvalidAttributeName", 400):
        sqs.receive_message(QueueUrl=url, AttributeNames=["NoSuchName"])


def test_receive_legacy_attribute_names_and_single_names(sqs, queue):
    _, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="legacy")
    msg = receive_one(sqs, url, AttributeNames=["All"], VisibilityTimeout=0)
    assert {"SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp", "SenderId"} <= set(
        msg["Attributes"]
    )
    msg = receive_one(sqs, url, MessageSystemAttributeNames=["SentTimestamp"], VisibilityTimeout=0)
    assert set(msg["Attributes"]) == {"SentTimestamp"}
    msg = receive_one(sqs, url)
    assert "Attributes" not in msg or msg["Attributes"] == {}


def test_approximate_receive_count_increments(redrive, sqs):
    _, url = redrive.create_queue("recvcount", VisibilityTimeout=0)
    sqs.send_message(QueueUrl=url, MessageBody="again")
    first_receive = None
    for expected in (1, 2, 3):
        msg = receive_one(sqs, url, MessageSystemAttributeNames=["All"])
        assert msg["Attributes"]["ApproximateReceiveCount"] == str(expected)
        if first_receive is None:
            first_receive = msg["Attributes"]["ApproximateFirstReceiveTimestamp"]
        assert msg["Attributes"]["ApproximateFirstReceiveTimestamp"] == first_receive
        redrive.advance(2)


# --- visibility -----------------------------------------------------------------------


def test_visibility_timeout_expiry(redrive, sqs):
    _, url = redrive.create_queue("vis", VisibilityTimeout=30)
    sent = sqs.send_message(QueueUrl=url, MessageBody="once more")
    first = receive_one(sqs, url)
    receive_none(sqs, url)
    assert redrive.counts(url) == (0, 1, 0)
    redrive.advance(29)
    receive_none(sqs, url)
    redrive.advance(2)
    assert redrive.counts(url) == (1, 0, 0)
    second = receive_one(sqs, url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert second["MessageId"] == sent["MessageId"] == first["MessageId"]
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    assert redrive.counts(url) == (0, 0, 0)


def test_receive_visibility_timeout_overrides_queue(redrive, sqs, queue):
    _, url = queue  # queue default: 30 s
    sqs.send_message(QueueUrl=url, MessageBody="short")
    receive_one(sqs, url, VisibilityTimeout=5)
    redrive.advance(4)
    receive_none(sqs, url)
    redrive.advance(2)
    receive_one(sqs, url)


def test_change_message_visibility_to_zero_and_longer(redrive, sqs, queue):
    _, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="flip")
    msg = receive_one(sqs, url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=0)
    again = receive_one(sqs, url)
    assert again["MessageId"] == msg["MessageId"]

    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=120)
    redrive.advance(31)  # past the queue's 30 s default: still hidden
    receive_none(sqs, url)
    redrive.advance(90)
    last = receive_one(sqs, url)
    assert last["MessageId"] == msg["MessageId"]


def test_change_message_visibility_invalid_receipt_handle(sqs, queue):
    _, url = queue
    with aws_error("ReceiptHandleIsInvalid", 404):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="garbage", VisibilityTimeout=10)


def test_change_message_visibility_of_deleted_message(sqs, queue):
    _, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="gone")
    msg = receive_one(sqs, url)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    with aws_error("InvalidParameterValue", 400):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=10)


def test_change_message_visibility_after_expiry_hides_again(redrive, sqs, queue):
    _, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="rehide")
    msg = receive_one(sqs, url)
    redrive.advance(31)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=100)
    receive_none(sqs, url)
    assert redrive.counts(url) == (0, 1, 0)


# --- delays -----------------------------------------------------------------------------


def test_queue_delay_seconds(redrive, sqs):
    _, url = redrive.create_queue("qdelay", DelaySeconds=10)
    sqs.send_message(QueueUrl=url, MessageBody="delayed")
    assert redrive.counts(url) == (0, 0, 1)
    receive_none(sqs, url)
    redrive.advance(9)
    receive_none(sqs, url)
    redrive.advance(2)
    assert redrive.counts(url) == (1, 0, 0)
    assert receive_one(sqs, url)["Body"] == "delayed"


def test_per_message_delay_and_override(redrive, sqs):
    _, url = redrive.create_queue("mdelay", DelaySeconds=10)
    sqs.send_message(QueueUrl=url, MessageBody="now", DelaySeconds=0)
    sqs.send_message(QueueUrl=url, MessageBody="soon", DelaySeconds=5)
    assert redrive.counts(url) == (1, 0, 1)
    assert receive_one(sqs, url)["Body"] == "now"
    redrive.advance(6)
    assert receive_one(sqs, url)["Body"] == "soon"


def test_per_message_delay_out_of_range(sqs, queue):
    _, url = queue
    with aws_error("InvalidParameterValue", 400):
        sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=901)


# --- retention ----------------------------------------------------------------------------


def test_retention_period_expires_messages(redrive, sqs):
    _, url = redrive.create_queue("retention", MessageRetentionPeriod=60)
    sqs.send_message(QueueUrl=url, MessageBody="visible one")
    sqs.send_message(QueueUrl=url, MessageBody="in flight one")
    receive_one(sqs, url, MaxNumberOfMessages=1, VisibilityTimeout=600)
    redrive.advance(30)
    sqs.send_message(QueueUrl=url, MessageBody="young")
    redrive.advance(31)  # the first two are now 61 s old, "young" is 31 s old
    assert redrive.counts(url) == (1, 0, 0)
    assert receive_one(sqs, url, MaxNumberOfMessages=10)["Body"] == "young"


# --- receive parameters -------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"MaxNumberOfMessages": 0}, {"MaxNumberOfMessages": 11}, {"WaitTimeSeconds": 21}])
def test_receive_parameter_bounds(sqs, queue, kwargs):
    _, url = queue
    with aws_error("InvalidParameterValue", 400):
        sqs.receive_message(QueueUrl=url, **kwargs)


def test_max_number_of_messages(redrive, sqs, queue):
    _, url = queue
    for i in range(15):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i:02d}")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert 1 <= len(first) <= 10
    single = sqs.receive_message(QueueUrl=url)["Messages"]
    assert len(single) == 1  # default MaxNumberOfMessages is 1
    rest = redrive.receive_all(url)
    bodies = [m["Body"] for m in first + single + rest]
    assert sorted(bodies) == [f"m{i:02d}" for i in range(15)]


# --- long polling ----------------------------------------------------------------------------


def test_long_poll_returns_when_a_message_arrives(redrive, sqs, queue):
    _, url = queue
    poller = redrive.client()
    started = time.monotonic()
    bg = Background(poller.receive_message, QueueUrl=url, WaitTimeSeconds=20)
    time.sleep(0.3)
    assert not bg.done(), "a long poll on an empty queue returned before anything happened"
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    resp = bg.result(timeout=10)
    assert [m["Body"] for m in resp["Messages"]] == ["wake up"]
    assert time.monotonic() - started < 10


def _advance_until_done(redrive, bg, step: float, limit: float = 10.0):
    deadline = time.monotonic() + limit
    while not bg.done() and time.monotonic() < deadline:
        redrive.advance(step)
        bg.thread.join(0.3)
    return bg.result(timeout=1)


def test_long_poll_ends_when_clock_passes_wait_time(redrive, sqs, queue):
    _, url = queue
    bg = Background(redrive.client().receive_message, QueueUrl=url, WaitTimeSeconds=5)
    time.sleep(0.3)
    assert not bg.done(), "a long poll on an empty queue returned before its wait time"
    resp = _advance_until_done(redrive, bg, step=6)
    assert resp.get("Messages", []) == []


def test_queue_receive_wait_time_is_default_long_poll(redrive, sqs):
    _, url = redrive.create_queue("qwait", ReceiveMessageWaitTimeSeconds=20)
    bg = Background(redrive.client().receive_message, QueueUrl=url)
    time.sleep(0.3)
    assert not bg.done(), "ReceiveMessageWaitTimeSeconds=20 did not make the receive wait"
    sqs.send_message(QueueUrl=url, MessageBody="queued")
    assert [m["Body"] for m in bg.result(timeout=10)["Messages"]] == ["queued"]


def test_wait_time_zero_overrides_queue_wait(redrive, sqs):
    _, url = redrive.create_queue("qwait0", ReceiveMessageWaitTimeSeconds=20)
    bg = Background(redrive.client().receive_message, QueueUrl=url, WaitTimeSeconds=0)
    try:
        resp = bg.result(timeout=5)
    finally:
        if not bg.done():
            _advance_until_done(redrive, bg, step=21)
    assert resp.get("Messages", []) == []


def test_long_poll_wakes_for_delayed_message_when_clock_advances(redrive, sqs, queue):
    _, url = queue
    sqs.send_message(QueueUrl=url, MessageBody="delayed wake", DelaySeconds=5)
    bg = Background(redrive.client().receive_message, QueueUrl=url, WaitTimeSeconds=20)
    time.sleep(0.3)
    assert not bg.done()
    redrive.advance(6)
    resp = bg.result(timeout=10)
    assert [m["Body"] for m in resp.get("Messages", [])] == ["delayed wake"]


# --- purge ------------------------------------------------------------------------------------


def test_purge_queue_and_cooldown(redrive, sqs, queue):
    _, url = queue
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"p{i}")
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=30)
    receive_one(sqs, url)
    assert redrive.counts(url) == (2, 1, 1)
    sqs.purge_queue(QueueUrl=url)
    assert redrive.counts(url) == (0, 0, 0)
    receive_none(sqs, url)
    with aws_error("AWS.SimpleQueueService.PurgeQueueInProgress", 403):
        sqs.purge_queue(QueueUrl=url)
    redrive.advance(60)
    sqs.purge_queue(QueueUrl=url)
    redrive.advance(61)
    receive_none(sqs, url)  # nothing came back from the purge (in flight or delayed)
