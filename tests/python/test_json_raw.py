"""Raw AWS JSON 1.0 requests: the envelope details SDKs rely on (query-compatible error header,
__type, request ids)."""

from __future__ import annotations

import json

JSON_TYPE = "application/x-amz-json-1.0"


def call(redrive, target: str, payload, path: str = "/"):
    body = payload if isinstance(payload, (bytes, bytearray)) else json.dumps(payload).encode()
    status, headers, data = redrive.http(
        "POST", path, data=body, headers={"Content-Type": JSON_TYPE, "X-Amz-Target": f"AmazonSQS.{target}"}
    )
    return status, headers, (json.loads(data) if data.strip() else None)


def test_success_envelope(redrive):
    name = redrive.unique("json")
    status, headers, body = call(redrive, "CreateQueue", {"QueueName": name})
    assert status == 200
    assert headers["Content-Type"].startswith(JSON_TYPE)
    assert headers.get("x-amzn-RequestId")
    assert body == {"QueueUrl": redrive.queue_url(name)}


def test_query_compatible_error(redrive):
    status, headers, body = call(redrive, "GetQueueUrl", {"QueueName": redrive.unique("missing")})
    assert status == 400
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert body["__type"] == "com.amazonaws.sqs#QueueDoesNotExist"
    assert body["message"] == "The specified queue does not exist."
    assert headers.get("x-amzn-RequestId")


def test_unknown_target(redrive):
    status, headers, body = call(redrive, "MakeCoffee", {})
    assert status == 400
    assert headers["x-amzn-query-error"].startswith("InvalidAction;")
    assert body["__type"].endswith("#UnknownOperationException")


def test_malformed_json(redrive):
    status, headers, body = call(redrive, "ListQueues", b"{")
    assert status == 400
    assert body["__type"].endswith("#SerializationException")


def test_json_sent_to_queue_url_path(redrive):
    name, url = redrive.create_queue("jsonpath")
    path = url[len(redrive.endpoint):]
    status, _, body = call(redrive, "SendMessage", {"QueueUrl": url, "MessageBody": "via path"}, path=path)
    assert status == 200 and body["MessageId"]
    status, _, body = call(redrive, "ReceiveMessage", {"QueueUrl": url})
    assert [m["Body"] for m in body["Messages"]] == ["via path"]
