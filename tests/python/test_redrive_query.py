"""Dead-letter queues and message move tasks over the AWS Query protocol: raw form POSTs
(and one GET) signed with SigV4, XML answers checked element by element."""

from __future__ import annotations

import base64
import json
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from redrive_helpers import md5_hex

NS = "http://queue.amazonaws.com/doc/2012-11-05/"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
CREDENTIALS = Credentials("AKIDREDRIVETEST", "redrive-test-secret")
HELLO_MD5 = "b10a8db164e0754105b7a99be72e3fe5"


def tag(path: str) -> str:
    return "/".join(f"{{{NS}}}{part}" for part in path.split("/"))


def local(element) -> str:
    return element.tag.split("}", 1)[-1]


class Answer:
    def __init__(self, status: int, body: bytes):
        self.status = status
        self.body = body
        try:
            self.root = ET.fromstring(body)
        except ET.ParseError as err:
            raise AssertionError(f"answer ({status}) is not XML: {err}: {body[:300]!r}") from None

    def find(self, path: str):
        return self.root.find(tag(path))

    def findall(self, path: str):
        return self.root.findall(tag(path))

    def text(self, path: str) -> str | None:
        node = self.find(path)
        return None if node is None else (node.text or "")

    def ok(self, action: str) -> "Answer":
        assert self.status == 200, f"{action}: HTTP {self.status}: {self.body[:500]!r}"
        assert self.root.tag == tag(f"{action}Response"), self.root.tag
        assert self.text("ResponseMetadata/RequestId"), "ResponseMetadata/RequestId missing"
        return self

    def error(self, status: int, code: str, message: str) -> "Answer":
        assert self.root.tag == tag("ErrorResponse"), f"not an ErrorResponse: {self.body[:500]!r}"
        assert self.status == status, f"HTTP {self.status} for {code}: {self.body[:300]!r}"
        assert self.text("Error/Type") == "Sender"
        assert self.text("Error/Code") == code, self.body[:500]
        assert self.text("Error/Message") == message, self.body[:500]
        assert self.text("RequestId"), "ErrorResponse/RequestId missing"
        return self


def query(redrive, params: dict, path: str = "/", method: str = "POST") -> Answer:
    params = {"Version": "2012-11-05", **params}
    encoded = urlencode(params)
    url = path if path.startswith("http") else f"{redrive.endpoint}{path}"
    if method == "GET":
        url, data, headers = f"{url}?{encoded}", None, {}
    else:
        data, headers = encoded.encode("utf-8"), {"Content-Type": FORM}
    request = AWSRequest(method=method, url=url, data=data, headers=headers)
    SigV4Auth(CREDENTIALS, "sqs", "us-east-1").add_auth(request)
    status, _, body = redrive.http(method, url, data=data, headers=dict(request.headers.items()))
    return Answer(status, body)


def attribute_params(attributes: dict) -> dict:
    params = {}
    for i, (key, value) in enumerate(attributes.items(), start=1):
        params[f"Attribute.{i}.Name"] = key
        params[f"Attribute.{i}.Value"] = value
    return params


def create(redrive, prefix: str, **attributes) -> tuple[str, str, str]:
    """(name, url, arn) of a new queue created over Query."""
    name = redrive.unique(prefix)
    answer = query(redrive, {"Action": "CreateQueue", "QueueName": name, **attribute_params(attributes)}).ok("CreateQueue")
    url = answer.text("CreateQueueResult/QueueUrl")
    assert url == redrive.queue_url(name)
    return name, url, redrive.queue_arn(name)


def policy(dlq_arn: str, count: str = '"3"') -> str:
    return f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":{count}}}'


def queue_attribute(redrive, url: str, name: str) -> str | None:
    answer = query(redrive, {"Action": "GetQueueAttributes", "QueueUrl": url, "AttributeName.1": name}).ok(
        "GetQueueAttributes"
    )
    values = {n.findtext(tag("Name")): n.findtext(tag("Value")) for n in answer.findall("GetQueueAttributesResult/Attribute")}
    return values.get(name)


def receive(redrive, url: str, **extra) -> list[dict]:
    """ReceiveMessage with every attribute; each message as a dict (Attributes flattened)."""
    params = {"Action": "ReceiveMessage", "QueueUrl": url, "AttributeName.1": "All", "MaxNumberOfMessages": "10", **extra}
    answer = query(redrive, params).ok("ReceiveMessage")
    out = []
    for node in answer.findall("ReceiveMessageResult/Message"):
        m = {local(child): child.text for child in node if local(child) not in ("Attribute", "MessageAttribute")}
        m["Attributes"] = {a.findtext(tag("Name")): a.findtext(tag("Value")) for a in node.findall(tag("Attribute"))}
        assert m["MD5OfBody"] == md5_hex(m["Body"])
        out.append(m)
    return out


def source_urls(redrive, dlq_url: str, **extra) -> tuple[list[str], str | None]:
    answer = query(redrive, {"Action": "ListDeadLetterSourceQueues", "QueueUrl": dlq_url, **extra}).ok(
        "ListDeadLetterSourceQueues"
    )
    return [n.text for n in answer.findall("ListDeadLetterSourceQueuesResult/QueueUrl")], answer.text(
        "ListDeadLetterSourceQueuesResult/NextToken"
    )


def list_tasks(redrive, source_arn: str, method: str = "POST", **extra) -> list[dict]:
    """ListMessageMoveTasks entries as {element: text} dicts, in document order."""
    answer = query(redrive, {"Action": "ListMessageMoveTasks", "SourceArn": source_arn, **extra}, method=method).ok(
        "ListMessageMoveTasks"
    )
    result = answer.find("ListMessageMoveTasksResult")
    assert result is not None
    assert all(local(child) == "ListMessageMoveTasksResultEntry" for child in result), ET.tostring(result)
    return [{local(child): child.text for child in entry} for entry in result]


def start_task(redrive, source_arn: str, **extra) -> str:
    answer = query(redrive, {"Action": "StartMessageMoveTask", "SourceArn": source_arn, **extra}).ok("StartMessageMoveTask")
    assert [local(c) for c in answer.find("StartMessageMoveTaskResult")] == ["TaskHandle"]
    return answer.text("StartMessageMoveTaskResult/TaskHandle")


def wait_task(redrive, source_arn: str, done, what: str) -> dict:
    last = None
    for _ in range(250):
        got = list_tasks(redrive, source_arn)
        last = got[0] if got else None
        if last is not None and done(last):
            return last
        time.sleep(0.02)
    raise AssertionError(f"task never reached {what}; last seen {last}")


def dead_letter(redrive, src_url: str, bodies: list[str]) -> None:
    """Dead-letter through a maxReceiveCount-1 source without moving the clock."""
    for body in bodies:
        query(redrive, {"Action": "SendMessage", "QueueUrl": src_url, "MessageBody": body}).ok("SendMessage")
    for _ in range(100):
        if not receive(redrive, src_url, VisibilityTimeout="0") and redrive.counts(src_url) == (0, 0, 0):
            return
    raise AssertionError("messages did not reach the DLQ")


# --- tests ---------------------------------------------------------------------------------


def test_dead_letter_and_redrive_over_query(redrive):
    dlq_name, dlq_url, dlq_arn = create(redrive, "qdlq")
    assert queue_attribute(redrive, dlq_url, "QueueArn") == dlq_arn
    src_name, src_url, src_arn = create(redrive, "qsrc", RedrivePolicy=policy(dlq_arn, '"3"'))
    assert queue_attribute(redrive, src_url, "RedrivePolicy") == policy(dlq_arn, "3"), "count stored as a number"
    assert source_urls(redrive, dlq_url) == ([src_url], None)

    sent = query(redrive, {"Action": "SendMessage", "QueueUrl": src_url, "MessageBody": "Hello World"}).ok("SendMessage")
    assert sent.text("SendMessageResult/MD5OfMessageBody") == HELLO_MD5
    message_id = sent.text("SendMessageResult/MessageId")
    for attempt in (1, 2, 3):
        (m,) = receive(redrive, src_url)
        assert (m["MessageId"], m["Body"], m["Attributes"]["ApproximateReceiveCount"]) == (
            message_id,
            "Hello World",
            str(attempt),
        )
        redrive.advance(31)
    empty = query(redrive, {"Action": "ReceiveMessage", "QueueUrl": src_url}).ok("ReceiveMessage")
    assert empty.find("ReceiveMessageResult") is not None
    assert list(empty.find("ReceiveMessageResult")) == [], "an empty receive is <ReceiveMessageResult/>"

    (m,) = receive(redrive, dlq_url)
    assert (m["MessageId"], m["Body"], m["MD5OfBody"]) == (message_id, "Hello World", HELLO_MD5)
    assert m["Attributes"]["ApproximateReceiveCount"] == "4"
    assert m["Attributes"]["DeadLetterQueueSourceArn"] == src_arn
    redrive.advance(31)

    started_at = redrive.advance(0)
    handle = start_task(redrive, dlq_arn)
    decoded = json.loads(base64.b64decode(handle, validate=True))
    assert set(decoded) == {"taskId", "sourceArn"} and decoded["sourceArn"] == dlq_arn
    uuid.UUID(decoded["taskId"])
    task = wait_task(redrive, dlq_arn, lambda t: t["Status"] == "COMPLETED", "COMPLETED")
    assert task == {
        "Status": "COMPLETED",
        "SourceArn": dlq_arn,
        "ApproximateNumberOfMessagesMoved": "1",
        "ApproximateNumberOfMessagesToMove": "1",
        "StartedTimestamp": str(started_at),
    }

    (back,) = receive(redrive, src_url)
    assert back["Body"] == "Hello World" and back["MD5OfBody"] == HELLO_MD5
    assert back["MessageId"] != message_id
    assert back["Attributes"]["ApproximateReceiveCount"] == "1"
    assert "DeadLetterQueueSourceArn" not in back["Attributes"]
    assert redrive.counts(dlq_url) == (0, 0, 0)


def test_list_dead_letter_source_queues_over_query(redrive):
    _, dlq_url, dlq_arn = create(redrive, "qpages")
    urls = sorted(create(redrive, "qpsrc", RedrivePolicy=policy(dlq_arn))[1] for _ in range(3))
    assert sorted(source_urls(redrive, dlq_url)[0]) == urls
    seen, token = [], None
    for _ in range(5):
        extra = {"MaxResults": "2", **({"NextToken": token} if token else {})}
        page, token = source_urls(redrive, dlq_url, **extra)
        assert len(page) <= 2
        seen += page
        if token is None:
            break
    assert sorted(seen) == urls and len(seen) == 3
    _, plain_url, _ = create(redrive, "qplain")
    answer = query(redrive, {"Action": "ListDeadLetterSourceQueues", "QueueUrl": plain_url}).ok("ListDeadLetterSourceQueues")
    assert list(answer.find("ListDeadLetterSourceQueuesResult")) == [], "no sources: no QueueUrl elements"


def test_redrive_policy_errors_over_query(redrive):
    _, _, dlq_arn = create(redrive, "qerr-dlq")
    name = redrive.unique("qerr")
    zero = policy(dlq_arn, "0")
    query(redrive, {"Action": "CreateQueue", "QueueName": name, **attribute_params({"RedrivePolicy": zero})}).error(
        400,
        "InvalidParameterValue",
        f"Value {zero} for parameter RedrivePolicy is invalid. Reason: "
        "Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive.",
    )
    missing = policy(redrive.queue_arn("qerr-nope"))
    query(redrive, {"Action": "CreateQueue", "QueueName": name, **attribute_params({"RedrivePolicy": missing})}).error(
        400, "InvalidParameterValue", f"Value {missing} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist."
    )
    query(redrive, {"Action": "CreateQueue", "QueueName": name, **attribute_params({"RedrivePolicy": "{oops"})}).error(
        400,
        "InvalidAttributeValue",
        "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.",
    )
    _, src_url, _ = create(redrive, "qerr-src")
    deny = '{"redrivePermission":"byQueue"}'
    query(redrive, {"Action": "SetQueueAttributes", "QueueUrl": src_url, **attribute_params({"RedriveAllowPolicy": deny})}).error(
        400,
        "InvalidParameterValue",
        f"Value {deny} for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS can't create the redrive allow "
        "policy. When you specify the byQueue permission type, you must also specify one or more sourceQueueArns values.",
    )
    # Set and remove over Query.
    query(redrive, {"Action": "SetQueueAttributes", "QueueUrl": src_url, **attribute_params({"RedrivePolicy": policy(dlq_arn, "9")})}).ok(
        "SetQueueAttributes"
    )
    assert queue_attribute(redrive, src_url, "RedrivePolicy") == policy(dlq_arn, "9")
    query(redrive, {"Action": "SetQueueAttributes", "QueueUrl": src_url, **attribute_params({"RedrivePolicy": ""})}).ok(
        "SetQueueAttributes"
    )
    assert queue_attribute(redrive, src_url, "RedrivePolicy") is None


def test_move_task_errors_over_query(redrive):
    _, dlq_url, dlq_arn = create(redrive, "qmt-dlq")
    _, src_url, src_arn = create(redrive, "qmt-src", RedrivePolicy=policy(dlq_arn, "1"))
    gone = "The resource that you specified for the {} parameter doesn't exist."
    query(redrive, {"Action": "StartMessageMoveTask", "SourceArn": src_arn}).error(
        400, "InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue."
    )
    query(redrive, {"Action": "StartMessageMoveTask", "SourceArn": redrive.queue_arn("qmt-nope")}).error(
        404, "ResourceNotFoundException", gone.format("SourceArn")
    )
    query(
        redrive, {"Action": "StartMessageMoveTask", "SourceArn": dlq_arn, "DestinationArn": redrive.queue_arn("qmt-nope")}
    ).error(404, "ResourceNotFoundException", gone.format("DestinationArn"))
    query(redrive, {"Action": "StartMessageMoveTask", "SourceArn": dlq_arn, "DestinationArn": dlq_arn}).error(
        400, "InvalidParameterValue", "Source queue arn and destination queue arn cannot be the same."
    )
    query(redrive, {"Action": "StartMessageMoveTask", "SourceArn": "garbage"}).error(
        400,
        "InvalidParameterValue",
        "You must use this format to specify the SourceArn: arn:<partition>:<service>:<region>:<account-id>:<resource-id>",
    )
    query(redrive, {"Action": "StartMessageMoveTask", "SourceArn": dlq_arn, "MaxNumberOfMessagesPerSecond": "0"}).error(
        400,
        "InvalidParameterValue",
        "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500.",
    )
    query(redrive, {"Action": "CancelMessageMoveTask", "TaskHandle": "foobared"}).error(
        400, "InvalidParameterValue", "Value for parameter TaskHandle is invalid."
    )
    unknown = base64.b64encode(json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": dlq_arn}).encode()).decode()
    query(redrive, {"Action": "CancelMessageMoveTask", "TaskHandle": unknown}).error(
        404, "ResourceNotFoundException", "Task does not exist."
    )
    elsewhere = base64.b64encode(json.dumps({"taskId": str(uuid.uuid4()), "sourceArn": redrive.queue_arn("qmt-nope")}).encode()).decode()
    query(redrive, {"Action": "CancelMessageMoveTask", "TaskHandle": elsewhere}).error(
        404, "ResourceNotFoundException", gone.format("SourceArn")
    )
    query(redrive, {"Action": "ListMessageMoveTasks", "SourceArn": dlq_arn, "MaxResults": "11"}).error(
        400,
        "InvalidParameterValue",
        "Value for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10.",
    )
    query(redrive, {"Action": "ListMessageMoveTasks", "SourceArn": redrive.queue_arn("qmt-nope")}).error(
        404, "ResourceNotFoundException", gone.format("SourceArn")
    )
    assert list_tasks(redrive, dlq_arn) == []

    # A completed task cannot be cancelled; one running blocks a second start.
    dead_letter(redrive, src_url, ["x", "y"])
    handle = start_task(redrive, dlq_arn, MaxNumberOfMessagesPerSecond="1")
    wait_task(redrive, dlq_arn, lambda t: t["ApproximateNumberOfMessagesMoved"] == "1", "1 moved")
    query(redrive, {"Action": "StartMessageMoveTask", "SourceArn": dlq_arn}).error(
        400,
        "InvalidParameterValue",
        "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
    )
    redrive.advance(1)
    wait_task(redrive, dlq_arn, lambda t: t["ApproximateNumberOfMessagesMoved"] == "2", "2 moved")
    redrive.advance(1)
    wait_task(redrive, dlq_arn, lambda t: t["Status"] == "COMPLETED", "COMPLETED")
    query(redrive, {"Action": "CancelMessageMoveTask", "TaskHandle": handle}).error(
        400, "InvalidParameterValue", "Only active tasks can be cancelled."
    )


def test_rate_limited_task_cancel_and_failure_over_query(redrive):
    _, dlq_url, dlq_arn = create(redrive, "qrate-dlq")
    _, src_url, _ = create(redrive, "qrate-src", RedrivePolicy=policy(dlq_arn, "1"))
    _, dest_url, dest_arn = create(redrive, "qrate-dest")
    dead_letter(redrive, src_url, [f"r{i}" for i in range(10)])

    handle = start_task(redrive, dlq_arn, DestinationArn=dest_arn, MaxNumberOfMessagesPerSecond="4")
    running = wait_task(redrive, dlq_arn, lambda t: t["ApproximateNumberOfMessagesMoved"] == "4", "4 moved")
    assert running["Status"] == "RUNNING"
    assert running["TaskHandle"] == handle
    assert running["DestinationArn"] == dest_arn
    assert running["MaxNumberOfMessagesPerSecond"] == "4"
    assert running["ApproximateNumberOfMessagesToMove"] == "10"
    # Older clients speak Query over GET too.
    assert list_tasks(redrive, dlq_arn, method="GET", MaxResults="10") == [running]

    cancelled = query(redrive, {"Action": "CancelMessageMoveTask", "TaskHandle": handle}).ok("CancelMessageMoveTask")
    assert [local(c) for c in cancelled.find("CancelMessageMoveTaskResult")] == ["ApproximateNumberOfMessagesMoved"]
    assert cancelled.text("CancelMessageMoveTaskResult/ApproximateNumberOfMessagesMoved") == "4"
    (task,) = list_tasks(redrive, dlq_arn)
    assert task["Status"] == "CANCELLING" and "TaskHandle" not in task
    redrive.advance(1)
    task = wait_task(redrive, dlq_arn, lambda t: t["Status"] == "CANCELLED", "CANCELLED")
    assert task["ApproximateNumberOfMessagesMoved"] == "4"
    assert "TaskHandle" not in task and "FailureReason" not in task
    assert redrive.counts(dest_url)[0] == 4 and redrive.counts(dlq_url)[0] == 6

    # A second task whose destination disappears mid-way fails.
    start_task(redrive, dlq_arn, DestinationArn=dest_arn, MaxNumberOfMessagesPerSecond="4")
    wait_task(redrive, dlq_arn, lambda t: t["ApproximateNumberOfMessagesMoved"] == "4", "4 moved")
    query(redrive, {"Action": "DeleteQueue", "QueueUrl": dest_url}).ok("DeleteQueue")
    redrive.advance(1)
    failed = wait_task(redrive, dlq_arn, lambda t: t["Status"] == "FAILED", "FAILED")
    assert failed["FailureReason"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert (failed["ApproximateNumberOfMessagesMoved"], failed["ApproximateNumberOfMessagesToMove"]) == ("4", "6")
    assert "TaskHandle" not in failed
    assert redrive.counts(dlq_url) == (2, 0, 0)
    every = list_tasks(redrive, dlq_arn, MaxResults="10")
    assert [t["Status"] for t in every] == ["FAILED", "CANCELLED"], "newest first"
