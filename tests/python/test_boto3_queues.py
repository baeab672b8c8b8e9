"""Queue management through boto3 (AWS JSON 1.0 protocol): create, find, list, delete, attributes,
tags and permissions of standard queues."""

from __future__ import annotations

import json
import time

import pytest

from redrive_helpers import aws_error

NON_EXISTENT = "AWS.SimpleQueueService.NonExistentQueue"

DEFAULTS = {
    "VisibilityTimeout": "30",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "DelaySeconds": "0",
    "ReceiveMessageWaitTimeSeconds": "0",
    "ApproximateNumberOfMessages": "0",
    "ApproximateNumberOfMessagesNotVisible": "0",
    "ApproximateNumberOfMessagesDelayed": "0",
}


# --- create / get url / delete ----------------------------------------------


def test_create_queue_returns_url_and_get_queue_url_finds_it(redrive, sqs):
    name = redrive.unique("create")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url == redrive.queue_url(name)
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url


def test_get_queue_url_with_owner_account(redrive, sqs):
    name, url = redrive.create_queue("owner")
    assert sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=redrive.account)["QueueUrl"] == url


def test_create_queue_is_idempotent_with_same_attributes(redrive, sqs):
    name = redrive.unique("idem")
    attrs = {"VisibilityTimeout": "45", "DelaySeconds": "5"}
    first = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    second = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    assert first == second
    # Without attributes on a queue with default attributes it is idempotent too.
    plain = redrive.unique("idem-plain")
    assert sqs.create_queue(QueueName=plain)["QueueUrl"] == sqs.create_queue(QueueName=plain)["QueueUrl"]
    # No attributes, or a matching subset, also return the existing queue.
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == first
    assert sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "5"})["QueueUrl"] == first
    # After SetQueueAttributes, the new value matches and the old one does not.
    sqs.set_queue_attributes(QueueUrl=first, Attributes={"DelaySeconds": "6"})
    assert sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "6"})["QueueUrl"] == first
    with aws_error("QueueAlreadyExists", 400):
        sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "5"})
    listed = sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
    assert listed == [first]


def test_create_queue_with_different_attributes_is_queue_already_exists(redrive, sqs):
    name = redrive.unique("exists")
    sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})
    with aws_error("QueueAlreadyExists", 400):
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "46"})
    # The original queue is unchanged.
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    assert redrive.attributes(url, "VisibilityTimeout") == {"VisibilityTimeout": "45"}


@pytest.mark.parametrize(
    "bad_name",
    [
        "has space",
        "dot.in.name",
        "slash/name",
        "star*",
        "ünïcode",
        "x" * 81,
    ],
    ids=["space", "dot", "slash", "star", "non-ascii", "81-chars"],
)
def test_create_queue_rejects_invalid_names(sqs, bad_name):
    with aws_error("InvalidParameterValue", 400):
        sqs.create_queue(QueueName=bad_name)


def test_create_queue_accepts_longest_and_odd_valid_names(redrive, sqs):
    longest = ("L-" + redrive.unique("n")).ljust(80, "x")
    assert len(longest) == 80
    assert sqs.create_queue(QueueName=longest)["QueueUrl"].endswith("/" + longest)
    odd = "Mixed_Case-123_" + redrive.unique("z")
    assert sqs.create_queue(QueueName=odd)["QueueUrl"] == redrive.queue_url(odd)


def test_create_queue_with_attributes_applies_them(redrive, sqs):
    name = redrive.unique("attrs")
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "120",
            "DelaySeconds": "15",
            "MaximumMessageSize": "2048",
            "MessageRetentionPeriod": "3600",
            "ReceiveMessageWaitTimeSeconds": "2",
        },
    )["QueueUrl"]
    got = redrive.attributes(url)
    assert got["VisibilityTimeout"] == "120"
    assert got["DelaySeconds"] == "15"
    assert got["MaximumMessageSize"] == "2048"
    assert got["MessageRetentionPeriod"] == "3600"
    assert got["ReceiveMessageWaitTimeSeconds"] == "2"


@pytest.mark.parametrize(
    "attrs,code",
    [
        ({"VisibilityTimeout": "43201"}, "InvalidAttributeValue"),
        ({"DelaySeconds": "901"}, "InvalidAttributeValue"),
        ({"Bogus": "1"}, "InvalidAttributeName"),
    ],
    ids=["visibility", "delay", "unknown-name"],
)
def test_create_queue_rejects_invalid_attributes(redrive, sqs, attrs, code):
    name = redrive.unique("badattr")
    with aws_error(code, 400):
        sqs.create_queue(QueueName=name, Attributes=attrs)
    with aws_error(NON_EXISTENT, 400):
        sqs.get_queue_url(QueueName=name)


def test_delete_queue_then_it_is_gone(redrive, sqs):
    name, url = redrive.create_queue("del")
    sqs.delete_queue(QueueUrl=url)
    with aws_error(NON_EXISTENT, 400):
        sqs.get_queue_url(QueueName=name)
    with aws_error(NON_EXISTENT, 400):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert url not in sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])


def test_recreate_after_delete_needs_60_seconds(redrive, sqs):
    name, url = redrive.create_queue("recreate")
    sqs.delete_queue(QueueUrl=url)
    with aws_error("AWS.SimpleQueueService.QueueDeletedRecently", 400):
        sqs.create_queue(QueueName=name)
    redrive.advance(61)
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    # The new queue starts empty.
    assert redrive.counts(url) == (0, 0, 0)


# --- list -------------------------------------------------------------------


def test_list_queues_filters_by_prefix(redrive, sqs):
    prefix = redrive.unique("lp")
    urls = {sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(3)}
    other = sqs.create_queue(QueueName=redrive.unique("other"))["QueueUrl"]
    listed = sqs.list_queues(QueueNamePrefix=prefix)["QueueUrls"]
    assert set(listed) == urls
    assert len(listed) == 3
    assert other in sqs.list_queues()["QueueUrls"]


def test_list_queues_with_unknown_prefix_is_empty(redrive, sqs):
    resp = sqs.list_queues(QueueNamePrefix=redrive.unique("nothing-here"))
    assert resp.get("QueueUrls", []) == []
    assert "NextToken" not in resp


def test_list_queues_paginates_with_max_results(redrive, sqs):
    prefix = redrive.unique("page")
    urls = {sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5)}
    seen: list[str] = []
    pages = []
    kwargs = {"QueueNamePrefix": prefix, "MaxResults": 2}
    for _ in range(10):
        resp = sqs.list_queues(**kwargs)
        page = resp.get("QueueUrls", [])
        pages.append(len(page))
        seen.extend(page)
        token = resp.get("NextToken")
        if not token:
            break
        kwargs["NextToken"] = token
    assert pages == [2, 2, 1]
    assert len(seen) == 5 and set(seen) == urls


def test_list_queues_paginator(redrive, sqs):
    prefix = redrive.unique("pager")
    urls = {sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(4)}
    paginator = sqs.get_paginator("list_queues")
    seen = []
    for page in paginator.paginate(QueueNamePrefix=prefix, PaginationConfig={"PageSize": 3}):
        seen.extend(page.get("QueueUrls", []))
    assert sorted(seen) == sorted(urls)


# --- attributes -------------------------------------------------------------


def test_get_queue_attributes_all_has_defaults(redrive, sqs):
    before = int(time.time()) - 2
    name, url = redrive.create_queue("defaults")
    now = redrive.advance(1) // 1000
    attrs = redrive.attributes(url, "All")
    for key, value in DEFAULTS.items():
        assert attrs.get(key) == value, f"{key}: {attrs.get(key)!r}"
    assert attrs["QueueArn"] == redrive.queue_arn(name)
    created = int(attrs["CreatedTimestamp"])
    assert before <= created <= now
    assert int(attrs["LastModifiedTimestamp"]) == created
    # A standard queue does not report FIFO attributes.
    assert "FifoQueue" not in attrs
    assert "ContentBasedDeduplication" not in attrs


def test_get_queue_attributes_single_names(redrive, sqs):
    name, url = redrive.create_queue("single")
    assert redrive.attributes(url, "QueueArn") == {"QueueArn": redrive.queue_arn(name)}
    got = redrive.attributes(url, "VisibilityTimeout", "DelaySeconds")
    assert got == {"VisibilityTimeout": "30", "DelaySeconds": "0"}
    # No attribute names: no attributes.
    assert not sqs.get_queue_attributes(QueueUrl=url).get("Attributes")


def test_get_queue_attributes_unknown_name(redrive, sqs):
    _, url = redrive.create_queue("unknown-attr")
    with aws_error("InvalidAttributeName", 400):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["NotAnAttribute"])


def test_set_queue_attributes_updates_values_and_last_modified(redrive, sqs):
    _, url = redrive.create_queue("set")
    created = int(redrive.attributes(url, "CreatedTimestamp")["CreatedTimestamp"])
    redrive.advance(5)
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": "90",
            "DelaySeconds": "3",
            "MessageRetentionPeriod": "7200",
            "MaximumMessageSize": "4096",
            "ReceiveMessageWaitTimeSeconds": "10",
        },
    )
    attrs = redrive.attributes(url)
    assert attrs["VisibilityTimeout"] == "90"
    assert attrs["DelaySeconds"] == "3"
    assert attrs["MessageRetentionPeriod"] == "7200"
    assert attrs["MaximumMessageSize"] == "4096"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "10"
    assert int(attrs["CreatedTimestamp"]) == created
    assert int(attrs["LastModifiedTimestamp"]) >= created + 5


@pytest.mark.parametrize(
    "name,value",
    [
        ("VisibilityTimeout", "0"),
        ("VisibilityTimeout", "43200"),
        ("DelaySeconds", "900"),
        ("MessageRetentionPeriod", "60"),
        ("MessageRetentionPeriod", "1209600"),
        ("MaximumMessageSize", "1024"),
        ("MaximumMessageSize", "1048576"),
        ("ReceiveMessageWaitTimeSeconds", "20"),
    ],
)
def test_set_queue_attributes_accepts_range_limits(redrive, sqs, name, value):
    _, url = redrive.create_queue("range-ok")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={name: value})
    assert redrive.attributes(url, name) == {name: value}


@pytest.mark.parametrize(
    "name,value",
    [
        ("VisibilityTimeout", "43201"),
        ("VisibilityTimeout", "-1"),
        ("VisibilityTimeout", "abc"),
        ("DelaySeconds", "901"),
        ("MessageRetentionPeriod", "59"),
        ("MessageRetentionPeriod", "1209601"),
        ("MaximumMessageSize", "1023"),
        ("MaximumMessageSize", "1048577"),
        ("ReceiveMessageWaitTimeSeconds", "21"),
    ],
)
def test_set_queue_attributes_rejects_out_of_range(redrive, sqs, name, value):
    _, url = redrive.create_queue("range-bad")
    before = redrive.attributes(url, name)
    with aws_error("InvalidAttributeValue", 400):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={name: value})
    assert redrive.attributes(url, name) == before


def test_set_queue_attributes_rejects_unknown_and_read_only_names(redrive, sqs):
    _, url = redrive.create_queue("ro")
    with aws_error("InvalidAttributeName", 400):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Bogus": "1"})
    with aws_error("InvalidAttributeName", 400):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"ApproximateNumberOfMessages": "5"})


def test_message_counters(redrive, sqs):
    _, url = redrive.create_queue("counters")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=30)
    assert redrive.counts(url) == (3, 0, 1)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    assert len(got) == 2
    assert redrive.counts(url) == (1, 2, 1)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert redrive.counts(url) == (1, 1, 1)
    redrive.advance(31)  # visibility timeout (30 s) and the 30 s delay both pass
    assert redrive.counts(url) == (3, 0, 0)


# --- tags ---------------------------------------------------------------------


def test_tags_on_create_and_tag_untag(redrive, sqs):
    name = redrive.unique("tags")
    url = sqs.create_queue(QueueName=name, tags={"team": "core", "env": "test"})["QueueUrl"]
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core", "env": "test"}
    sqs.tag_queue(QueueUrl=url, Tags={"env": "prod", "cost-center": "42"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core", "env": "prod", "cost-center": "42"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team", "cost-center", "absent"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "prod"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["env"])
    assert sqs.list_queue_tags(QueueUrl=url).get("Tags", {}) == {}


def test_empty_collections_are_omitted(redrive, sqs):
    """AWS leaves empty lists and maps out of JSON answers instead of sending them empty."""
    _, url = redrive.create_queue("omit")
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix=redrive.unique("none"))
    assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url)
    assert "Failed" not in sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}])


# --- permissions ----------------------------------------------------------------


def _policy(redrive, url) -> dict | None:
    raw = redrive.attributes(url, "Policy").get("Policy")
    return json.loads(raw) if raw else None


def test_add_and_remove_permission_show_in_policy(redrive, sqs):
    name, url = redrive.create_queue("perm")
    assert _policy(redrive, url) is None
    sqs.add_permission(
        QueueUrl=url,
        Label="AllowSend",
        AWSAccountIds=["111122223333"],
        Actions=["SendMessage", "ReceiveMessage"],
    )
    sqs.add_permission(QueueUrl=url, Label="AllowAll", AWSAccountIds=["444455556666"], Actions=["*"])
    policy = _policy(redrive, url)
    assert policy is not None
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert set(statements) == {"AllowSend", "AllowAll"}
    send = statements["AllowSend"]
    assert send["Effect"] == "Allow"
    assert send["Resource"] == redrive.queue_arn(name)
    actions = send["Action"] if isinstance(send["Action"], list) else [send["Action"]]
    assert sorted(actions) == ["SQS:ReceiveMessage", "SQS:SendMessage"]
    assert "111122223333" in json.dumps(send["Principal"])
    assert "444455556666" in json.dumps(statements["AllowAll"]["Principal"])

    sqs.remove_permission(QueueUrl=url, Label="AllowSend")
    policy = _policy(redrive, url)
    assert [s["Sid"] for s in policy["Statement"]] == ["AllowAll"]
    # Removing the last statement removes the Policy attribute.
    sqs.remove_permission(QueueUrl=url, Label="AllowAll")
    assert _policy(redrive, url) is None


def test_add_permission_with_a_used_label(redrive, sqs):
    _, url = redrive.create_queue("perm-dup")
    sqs.add_permission(QueueUrl=url, Label="Same", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    with aws_error("InvalidParameterValue", 400):
        sqs.add_permission(QueueUrl=url, Label="Same", AWSAccountIds=["111122223333"], Actions=["DeleteMessage"])


def test_remove_unknown_permission_label(redrive, sqs):
    _, url = redrive.create_queue("perm-unknown")
    sqs.add_permission(QueueUrl=url, Label="One", AWSAccountIds=["111122223333"], Actions=["SendMessage"])
    with aws_error("InvalidParameterValue", 400):
        sqs.remove_permission(QueueUrl=url, Label="Two")


def test_set_policy_attribute_round_trips(redrive, sqs):
    name, url = redrive.create_queue("policy")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "s1",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "sqs:SendMessage",
                "Resource": redrive.queue_arn(name),
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    assert _policy(redrive, url)["Statement"][0]["Sid"] == "s1"


# --- missing queues -------------------------------------------------------------


def test_operations_on_missing_queue_fail_with_non_existent_queue(redrive, sqs):
    url = redrive.queue_url(redrive.unique("missing"))
    calls = [
        lambda: sqs.get_queue_url(QueueName=url.rsplit("/", 1)[1]),
        lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
        lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"}),
        lambda: sqs.send_message(QueueUrl=url, MessageBody="x"),
        lambda: sqs.receive_message(QueueUrl=url),
        lambda: sqs.delete_queue(QueueUrl=url),
        lambda: sqs.purge_queue(QueueUrl=url),
        lambda: sqs.list_queue_tags(QueueUrl=url),
        lambda: sqs.tag_queue(QueueUrl=url, Tags={"a": "b"}),
        lambda: sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}]),
    ]
    for call in calls:
        with aws_error(NON_EXISTENT, 400):
            call()


def test_a_queue_url_without_a_queue_in_it_names_no_queue(redrive, sqs):
    # AWS answers NonExistentQueue here (moto PR #3657, checked against AWS by its maintainer).
    for url in ["http://whatever-incorrect-queue-address", redrive.endpoint + "/"]:
        with aws_error(NON_EXISTENT, 400):
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])


def test_non_existent_queue_maps_to_modeled_exception(redrive, sqs):
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=redrive.unique("missing"))
