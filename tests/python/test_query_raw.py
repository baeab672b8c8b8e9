"""Raw AWS Query protocol (form POST and GET, XML answers), as older SDKs and hand-written
clients speak it."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from urllib.parse import urlencode, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from redrive_helpers import md5_hex, md5_of_attributes

NS = "http://queue.amazonaws.com/doc/2012-11-05/"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
CREDENTIALS = Credentials("AKIDREDRIVETEST", "redrive-test-secret")


def tag(path: str) -> str:
    return "/".join(f"{{{NS}}}{part}" for part in path.split("/"))


class Answer:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
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

    def request_id(self) -> str | None:
        return self.text("ResponseMetadata/RequestId")

    def expect_ok(self, action: str) -> "Answer":
        assert self.status == 200, f"{action}: HTTP {self.status}: {self.body[:500]!r}"
        assert self.root.tag == tag(f"{action}Response"), self.root.tag
        assert self.request_id(), "ResponseMetadata/RequestId missing"
        return self

    def expect_error(self, code: str, status: int = 400) -> "Answer":
        assert self.root.tag == tag("ErrorResponse"), f"not an ErrorResponse: {self.body[:500]!r}"
        assert self.text("Error/Code") == code, self.body[:500]
        assert self.text("Error/Type") == "Sender"
        assert self.text("Error/Message"), "Error/Message is empty"
        assert self.text("RequestId"), "ErrorResponse/RequestId missing"
        assert self.status == status, f"HTTP {self.status} for {code}"
        return self


def query(redrive, params: dict, path: str = "/", method: str = "POST", sign: bool = True) -> Answer:
    status, resp_headers, body = send_query(redrive, params, path, method, sign)
    return Answer(status, resp_headers, body)


def send_query(redrive, params: dict, path: str = "/", method: str = "POST", sign: bool = True, accept=None):
    params = {"Version": "2012-11-05", **params}
    encoded = urlencode(params)
    url = path if path.startswith("http") else f"{redrive.endpoint}{path}"
    if method == "GET":
        url, data, headers = f"{url}?{encoded}", None, {}
    else:
        data, headers = encoded.encode("utf-8"), {"Content-Type": FORM}
    if accept:
        headers["Accept"] = accept
    if sign:
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(CREDENTIALS, "sqs", "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    return redrive.http(method, url, data=data, headers=headers)


def create(redrive, prefix: str, **attributes) -> tuple[str, str]:
    name = redrive.unique(prefix)
    params = {"Action": "CreateQueue", "QueueName": name}
    for i, (key, value) in enumerate(attributes.items(), start=1):
        params[f"Attribute.{i}.Name"] = key
        params[f"Attribute.{i}.Value"] = str(value)
    url = query(redrive, params).expect_ok("CreateQueue").text("CreateQueueResult/QueueUrl")
    assert url == redrive.queue_url(name)
    return name, url


def attribute_map(nodes) -> dict:
    return {n.findtext(tag("Name")): n.findtext(tag("Value")) for n in nodes}


# --- queues ----------------------------------------------------------------------------


def test_create_queue_with_attributes_and_get_attributes(redrive):
    name, url = create(redrive, "qcreate", VisibilityTimeout=45, DelaySeconds=3)
    answer = query(
        redrive, {"Action": "GetQueueAttributes", "QueueUrl": url, "AttributeName.1": "All"}
    ).expect_ok("GetQueueAttributes")
    attrs = attribute_map(answer.findall("GetQueueAttributesResult/Attribute"))
    assert attrs["VisibilityTimeout"] == "45"
    assert attrs["DelaySeconds"] == "3"
    assert attrs["QueueArn"] == redrive.queue_arn(name)
    assert attrs["ApproximateNumberOfMessages"] == "0"

    answer = query(
        redrive,
        {"Action": "GetQueueAttributes", "QueueUrl": url, "AttributeName.1": "QueueArn", "AttributeName.2": "DelaySeconds"},
    ).expect_ok("GetQueueAttributes")
    assert attribute_map(answer.findall("GetQueueAttributesResult/Attribute")) == {
        "QueueArn": redrive.queue_arn(name),
        "DelaySeconds": "3",
    }


def test_get_queue_url_and_list_queues(redrive):
    prefix = redrive.unique("qlist")
    urls = {create(redrive, prefix)[1] for _ in range(2)}
    name = next(iter(urls)).rsplit("/", 1)[1]
    got = query(redrive, {"Action": "GetQueueUrl", "QueueName": name}).expect_ok("GetQueueUrl")
    assert got.text("GetQueueUrlResult/QueueUrl") == redrive.queue_url(name)

    listed = query(redrive, {"Action": "ListQueues", "QueueNamePrefix": prefix}).expect_ok("ListQueues")
    assert {n.text for n in listed.findall("ListQueuesResult/QueueUrl")} == urls


def test_list_queues_with_get_and_query_string(redrive):
    _, url = create(redrive, "qget")
    prefix = url.rsplit("/", 1)[1]
    answer = query(redrive, {"Action": "ListQueues", "QueueNamePrefix": prefix}, method="GET", sign=False)
    answer.expect_ok("ListQueues")
    assert [n.text for n in answer.findall("ListQueuesResult/QueueUrl")] == [url]


def test_get_on_queue_path(redrive):
    name, url = create(redrive, "qgetpath", VisibilityTimeout=12)
    answer = query(
        redrive, {"Action": "GetQueueAttributes", "AttributeName.1": "VisibilityTimeout"}, path=urlsplit(url).path, method="GET"
    ).expect_ok("GetQueueAttributes")
    assert attribute_map(answer.findall("GetQueueAttributesResult/Attribute")) == {"VisibilityTimeout": "12"}


def test_get_of_a_queue_url_without_action_is_an_unknown_operation(redrive):
    # Recorded on AWS: 404 with this bare body, even when JSON is asked for.
    _, url = create(redrive, "qbare")
    for headers in ({}, {"Accept": "application/json"}):
        status, _, body = redrive.http("GET", url, data=None, headers=headers)
        assert (status, body) == (404, b"<UnknownOperationException/>")
    # POSTed without an Action it stays MissingAction.
    status, _, body = redrive.http("POST", url, data=b"Version=2012-11-05", headers={"Content-Type": FORM})
    Answer(status, {}, body).expect_error("MissingAction")


def test_set_queue_attributes_and_tags(redrive):
    _, url = create(redrive, "qset")
    query(
        redrive,
        {"Action": "SetQueueAttributes", "QueueUrl": url, "Attribute.1.Name": "DelaySeconds", "Attribute.1.Value": "7"},
    ).expect_ok("SetQueueAttributes")
    query(
        redrive,
        {"Action": "TagQueue", "QueueUrl": url, "Tag.1.Key": "team", "Tag.1.Value": "core", "Tag.2.Key": "env", "Tag.2.Value": "dev"},
    ).expect_ok("TagQueue")
    tags = query(redrive, {"Action": "ListQueueTags", "QueueUrl": url}).expect_ok("ListQueueTags")
    assert {t.findtext(tag("Key")): t.findtext(tag("Value")) for t in tags.findall("ListQueueTagsResult/Tag")} == {
        "team": "core",
        "env": "dev",
    }
    answer = query(redrive, {"Action": "GetQueueAttributes", "QueueUrl": url, "AttributeName.1": "DelaySeconds"})
    assert attribute_map(answer.expect_ok("GetQueueAttributes").findall("GetQueueAttributesResult/Attribute")) == {
        "DelaySeconds": "7"
    }


def test_delete_queue(redrive):
    name, url = create(redrive, "qdel")
    query(redrive, {"Action": "DeleteQueue"}, path=urlsplit(url).path).expect_ok("DeleteQueue")
    query(redrive, {"Action": "GetQueueUrl", "QueueName": name}).expect_error("AWS.SimpleQueueService.NonExistentQueue")


# --- messages -----------------------------------------------------------------------------


def test_send_and_receive_with_attributes_on_queue_path(redrive):
    _, url = create(redrive, "qmsg")
    path = urlsplit(url).path
    body = 'line one\r\nline <two> & "three"'
    binary = bytes(range(16))
    sent = query(
        redrive,
        {
            "Action": "SendMessage",
            "MessageBody": body,
            "MessageAttribute.1.Name": "color",
            "MessageAttribute.1.Value.DataType": "String",
            "MessageAttribute.1.Value.StringValue": "red",
            "MessageAttribute.2.Name": "weight",
            "MessageAttribute.2.Value.DataType": "Number.kg",
            "MessageAttribute.2.Value.StringValue": "12.5",
            "MessageAttribute.3.Name": "blob",
            "MessageAttribute.3.Value.DataType": "Binary",
            "MessageAttribute.3.Value.BinaryValue": base64.b64encode(binary).decode(),
        },
        path=path,
    ).expect_ok("SendMessage")
    expected_attrs = {
        "color": {"DataType": "String", "StringValue": "red"},
        "weight": {"DataType": "Number.kg", "StringValue": "12.5"},
        "blob": {"DataType": "Binary", "BinaryValue": binary},
    }
    message_id = sent.text("SendMessageResult/MessageId")
    assert message_id
    assert sent.text("SendMessageResult/MD5OfMessageBody") == md5_hex(body)
    assert sent.text("SendMessageResult/MD5OfMessageAttributes") == md5_of_attributes(expected_attrs)

    got = query(
        redrive,
        {"Action": "ReceiveMessage", "AttributeName.1": "All", "MessageAttributeName.1": "All", "MaxNumberOfMessages": "10"},
        path=path,
    ).expect_ok("ReceiveMessage")
    messages = got.findall("ReceiveMessageResult/Message")
    assert len(messages) == 1
    msg = messages[0]
    assert msg.findtext(tag("MessageId")) == message_id
    assert msg.findtext(tag("Body")) == body
    assert msg.findtext(tag("MD5OfBody")) == md5_hex(body)
    assert msg.findtext(tag("ReceiptHandle"))
    system = attribute_map(msg.findall(tag("Attribute")))
    assert system["ApproximateReceiveCount"] == "1"
    assert int(system["SentTimestamp"]) > 0
    assert "SenderId" in system and "ApproximateFirstReceiveTimestamp" in system
    attrs = {}
    for node in msg.findall(tag("MessageAttribute")):
        value = node.find(tag("Value"))
        entry = {"DataType": value.findtext(tag("DataType"))}
        if value.find(tag("StringValue")) is not None:
            entry["StringValue"] = value.findtext(tag("StringValue"))
        if value.find(tag("BinaryValue")) is not None:
            entry["BinaryValue"] = base64.b64decode(value.findtext(tag("BinaryValue")))
        attrs[node.findtext(tag("Name"))] = entry
    assert attrs == expected_attrs
    assert msg.findtext(tag("MD5OfMessageAttributes")) == md5_of_attributes(expected_attrs)

    # Delete through "/" with QueueUrl as a parameter.
    query(
        redrive, {"Action": "DeleteMessage", "QueueUrl": url, "ReceiptHandle": msg.findtext(tag("ReceiptHandle"))}
    ).expect_ok("DeleteMessage")
    redrive.advance(31)
    empty = query(redrive, {"Action": "ReceiveMessage", "QueueUrl": url}).expect_ok("ReceiveMessage")
    assert empty.findall("ReceiveMessageResult/Message") == []


def test_send_message_batch_and_delete_message_batch(redrive):
    _, url = create(redrive, "qbatch")
    params = {"Action": "SendMessageBatch", "QueueUrl": url}
    for i in range(1, 4):
        params[f"SendMessageBatchRequestEntry.{i}.Id"] = f"msg{i}"
        params[f"SendMessageBatchRequestEntry.{i}.MessageBody"] = f"body {i}"
    params["SendMessageBatchRequestEntry.3.DelaySeconds"] = "30"
    params["SendMessageBatchRequestEntry.2.MessageAttribute.1.Name"] = "k"
    params["SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType"] = "String"
    params["SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue"] = "v"
    sent = query(redrive, params).expect_ok("SendMessageBatch")
    entries = {e.findtext(tag("Id")): e for e in sent.findall("SendMessageBatchResult/SendMessageBatchResultEntry")}
    assert set(entries) == {"msg1", "msg2", "msg3"}
    for i in range(1, 4):
        assert entries[f"msg{i}"].findtext(tag("MD5OfMessageBody")) == md5_hex(f"body {i}")
        assert entries[f"msg{i}"].findtext(tag("MessageId"))
    assert entries["msg2"].findtext(tag("MD5OfMessageAttributes")) == md5_of_attributes(
        {"k": {"DataType": "String", "StringValue": "v"}}
    )
    assert sent.findall("SendMessageBatchResult/BatchResultErrorEntry") == []

    got = query(redrive, {"Action": "ReceiveMessage", "QueueUrl": url, "MaxNumberOfMessages": "10"}).expect_ok(
        "ReceiveMessage"
    )
    handles = [m.findtext(tag("ReceiptHandle")) for m in got.findall("ReceiveMessageResult/Message")]
    assert len(handles) == 2  # the third one is delayed
    params = {"Action": "DeleteMessageBatch", "QueueUrl": url}
    for i, handle in enumerate(handles + ["bogus-handle"], start=1):
        params[f"DeleteMessageBatchRequestEntry.{i}.Id"] = f"d{i}"
        params[f"DeleteMessageBatchRequestEntry.{i}.ReceiptHandle"] = handle
    deleted = query(redrive, params).expect_ok("DeleteMessageBatch")
    ok = sorted(e.findtext(tag("Id")) for e in deleted.findall("DeleteMessageBatchResult/DeleteMessageBatchResultEntry"))
    assert ok == ["d1", "d2"]
    errors = deleted.findall("DeleteMessageBatchResult/BatchResultErrorEntry")
    assert [(e.findtext(tag("Id")), e.findtext(tag("Code")), e.findtext(tag("SenderFault"))) for e in errors] == [
        ("d3", "ReceiptHandleIsInvalid", "true")
    ]


def test_change_message_visibility(redrive):
    _, url = create(redrive, "qvis")
    query(redrive, {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "v"}).expect_ok("SendMessage")
    got = query(redrive, {"Action": "ReceiveMessage", "QueueUrl": url}).expect_ok("ReceiveMessage")
    handle = got.text("ReceiveMessageResult/Message/ReceiptHandle")
    query(
        redrive, {"Action": "ChangeMessageVisibility", "QueueUrl": url, "ReceiptHandle": handle, "VisibilityTimeout": "0"}
    ).expect_ok("ChangeMessageVisibility")
    again = query(redrive, {"Action": "ReceiveMessage", "QueueUrl": url}).expect_ok("ReceiveMessage")
    assert again.text("ReceiveMessageResult/Message/Body") == "v"


def test_legacy_queue_path(redrive):
    name, url = create(redrive, "qlegacy")
    query(redrive, {"Action": "SendMessage", "MessageBody": "via legacy path"}, path=f"/queue/{name}").expect_ok(
        "SendMessage"
    )
    got = query(redrive, {"Action": "ReceiveMessage", "QueueUrl": url}).expect_ok("ReceiveMessage")
    assert got.text("ReceiveMessageResult/Message/Body") == "via legacy path"


def test_purge_queue(redrive):
    _, url = create(redrive, "qpurge")
    query(redrive, {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "p"}).expect_ok("SendMessage")
    query(redrive, {"Action": "PurgeQueue", "QueueUrl": url}).expect_ok("PurgeQueue")
    again = query(redrive, {"Action": "PurgeQueue", "QueueUrl": url})
    again.expect_error("AWS.SimpleQueueService.PurgeQueueInProgress", status=403)


# --- errors ---------------------------------------------------------------------------------


def test_non_existent_queue_error(redrive):
    query(redrive, {"Action": "GetQueueUrl", "QueueName": redrive.unique("nope")}).expect_error(
        "AWS.SimpleQueueService.NonExistentQueue"
    )
    missing_url = redrive.queue_url(redrive.unique("nope"))
    query(redrive, {"Action": "SendMessage", "QueueUrl": missing_url, "MessageBody": "x"}).expect_error(
        "AWS.SimpleQueueService.NonExistentQueue"
    )


def test_unknown_action(redrive):
    query(redrive, {"Action": "MakeCoffee"}).expect_error("InvalidAction")


def test_receive_with_attribute_names_and_system_attribute_names_returns_only_the_attribute_names(redrive):
    # Recorded on AWS over Query (LocalStack's test_message_system_attribute_names_with_attribute_names,
    # sqs_query variant): AttributeName.N wins; over JSON the two lists are merged.
    _, url = create(redrive, "qnames", VisibilityTimeout=0)
    query(redrive, {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "msg"}).expect_ok("SendMessage")
    both = {"Action": "ReceiveMessage", "QueueUrl": url, "MessageSystemAttributeName.1": "All"}
    answer = query(redrive, {**both, "AttributeName.1": "SenderId"}).expect_ok("ReceiveMessage")
    names = {n.findtext(tag("Name")) for n in answer.findall("ReceiveMessageResult/Message/Attribute")}
    assert names == {"SenderId"}
    answer = query(redrive, both).expect_ok("ReceiveMessage")
    names = {n.findtext(tag("Name")) for n in answer.findall("ReceiveMessageResult/Message/Attribute")}
    assert names == {"SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp"}


def test_a_query_request_that_accepts_json_is_answered_in_json(redrive):
    # Recorded on AWS (LocalStack's AWS-validated Query API tests): the XML tree as JSON,
    # ReceiveMessage's messages as the lowercase list `messages`, a map as {Name, Value} entries,
    # errors as {"Error": {"Code", "Message"}}. A queue URL without an action stays XML (above).
    name, url = create(redrive, "qjson")
    path = urlsplit(url).path
    query(redrive, {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "ba\rr &amp;"}).expect_ok("SendMessage")

    def get(params, at="/"):
        status, headers, body = send_query(redrive, params, at, "GET", accept="application/json")
        assert headers.get("content-type", headers.get("Content-Type", "")).startswith("application/json")
        return status, json.loads(body)

    status, doc = get({"Action": "ListQueues", "QueueNamePrefix": name})
    assert status == 200
    assert doc["ListQueuesResponse"]["ListQueuesResult"]["QueueUrls"] == [url]
    assert doc["ListQueuesResponse"]["ResponseMetadata"]["RequestId"]
    status, doc = get({"Action": "GetQueueAttributes", "AttributeName.1": "All"}, path)
    attributes = doc["GetQueueAttributesResponse"]["GetQueueAttributesResult"]["Attributes"]
    arn = [a["Value"] for a in attributes if a["Name"] == "QueueArn"]
    assert arn == [redrive.queue_arn(name)]
    status, doc = get({"Action": "ReceiveMessage", "QueueUrl": url, "VisibilityTimeout": "0"})
    messages = doc["ReceiveMessageResponse"]["ReceiveMessageResult"]["messages"]
    assert [m["Body"] for m in messages] == ["ba\rr &amp;"]
    status, doc = get({"Action": "ListQueues"}, path)
    assert status == 400
    assert doc["Error"]["Code"] == "InvalidAction"
    assert doc["Error"]["Message"] == "The action ListQueues is not valid for this endpoint."
    # Without the header, the same request is XML.
    assert query(redrive, {"Action": "ListQueues", "QueueNamePrefix": name}, method="GET").expect_ok("ListQueues")


def test_control_characters_are_refused_or_replaced_so_every_answer_is_xml(redrive):
    # XML 1.0 cannot carry U+0001 even as a reference: values holding it are refused, and
    # an error quoting it writes U+FFFD, so every answer still parses (Answer parses it).
    _, url = create(redrive, "qctl")
    answer = query(redrive, {"Action": "Foo\x01"}).expect_error("InvalidAction")
    assert "Foo\ufffd" in answer.text("Error/Message")
    query(redrive, {"Action": "TagQueue", "QueueUrl": url, "Tag.1.Key": "k\x01", "Tag.1.Value": "v"}).expect_error(
        "InvalidParameterValue"
    )
    query(redrive, {"Action": "TagQueue", "QueueUrl": url, "Tag.1.Key": "k", "Tag.1.Value": "v\x0b"}).expect_error(
        "InvalidParameterValue"
    )
    tags = query(redrive, {"Action": "ListQueueTags", "QueueUrl": url}).expect_ok("ListQueueTags")
    assert tags.findall("ListQueueTagsResult/Tag") == []
    query(
        redrive,
        {
            "Action": "SendMessage",
            "QueueUrl": url,
            "MessageBody": "x",
            "MessageAttribute.1.Name": "a",
            "MessageAttribute.1.Value.DataType": "String.\x01",
            "MessageAttribute.1.Value.StringValue": "v",
        },
    ).expect_error("InvalidParameterValue")
    query(redrive, {"Action": "GetQueueAttributes", "QueueUrl": url, "AttributeName.1": "Foo\x01"}).expect_error(
        "InvalidAttributeName"
    )
    query(redrive, {"Action": "DeleteMessage", "QueueUrl": url, "ReceiptHandle": "garb\x01age"}).expect_error(
        "ReceiptHandleIsInvalid", 404
    )
    # Nothing was stored: the receive is empty, written as AWS writes it (recorded).
    empty = query(redrive, {"Action": "ReceiveMessage", "QueueUrl": url, "MessageAttributeName.1": "All"})
    assert b"<ReceiveMessageResult/>" in empty.expect_ok("ReceiveMessage").body


def test_missing_parameters(redrive):
    _, url = create(redrive, "qmissing")
    query(redrive, {"Action": "SendMessage", "QueueUrl": url}).expect_error("MissingParameter")
    query(redrive, {"Action": "DeleteMessage", "QueueUrl": url}).expect_error("MissingParameter")


def test_invalid_attribute_value_error(redrive):
    _, url = create(redrive, "qbadattr")
    query(
        redrive,
        {"Action": "SetQueueAttributes", "QueueUrl": url, "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "99999"},
    ).expect_error("InvalidAttributeValue")


def test_empty_batch_error(redrive):
    _, url = create(redrive, "qemptybatch")
    query(redrive, {"Action": "SendMessageBatch", "QueueUrl": url}).expect_error(
        "AWS.SimpleQueueService.EmptyBatchRequest"
    )
