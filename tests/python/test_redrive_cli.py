"""Dead-letter queues and message move tasks with the AWS CLI (v1).

The AWS News Blog walk-through (seed 002) command by command, the redrive-policy guide
(seed 004) run as the shell commands it prints, the errors a CLI user sees, and a
cancelled rate-limited redrive. The server's manual clock stands in for the waits.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import uuid

from conftest import REGION
from redrive_helpers import md5_hex

HELLO_MD5 = "b10a8db164e0754105b7a99be72e3fe5"


def bash(redrive, script: str) -> str:
    """Run `script` in bash with `aws` bound to this server; returns its stdout."""
    aws = redrive.aws_command()[0]
    prelude = f'set -euo pipefail\naws() {{ "{aws}" --endpoint-url "{redrive.endpoint}" --region {REGION} "$@"; }}\n'
    env = dict(os.environ)
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "AKIDREDRIVETEST",
            "AWS_SECRET_ACCESS_KEY": "redrive-test-secret",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_PAGER": "",
            "AWS_MAX_ATTEMPTS": "1",
        }
    )
    result = subprocess.run(
        ["bash", "-c", prelude + script], env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, f"script failed ({result.returncode}):\n{script}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def cli_error(redrive, *args: str) -> str:
    """Run `aws sqs ARGS` that must fail; returns the error line the CLI prints."""
    result = redrive.aws_run(*args)
    assert result.returncode in (254, 255), f"aws sqs {' '.join(args)}: exit {result.returncode}\n{result.stdout}{result.stderr}"
    assert result.stdout == ""
    return result.stderr.strip()


def error_line(operation: str, code: str, message: str) -> str:
    return f"An error occurred ({code}) when calling the {operation} operation: {message}"


def wait_task(redrive, source_arn: str, done, what: str) -> dict:
    """Poll the newest task (boto3, for speed) for up to 5 s of real time."""
    last = None
    for _ in range(250):
        last = redrive.sqs.list_message_move_tasks(SourceArn=source_arn).get("Results", [None])[0]
        if last is not None and done(last):
            return last
        time.sleep(0.02)
    raise AssertionError(f"task never reached {what}; last seen {last}")


def dead_letter(redrive, src_url: str, bodies: list[str]) -> None:
    """Dead-letter through a maxReceiveCount-1 source without moving the clock."""
    for body in bodies:
        redrive.sqs.send_message(QueueUrl=src_url, MessageBody=body)
    for _ in range(100):
        got = redrive.sqs.receive_message(QueueUrl=src_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        if not got.get("Messages") and redrive.counts(src_url) == (0, 0, 0):
            return
    raise AssertionError("messages did not reach the DLQ")


def test_news_blog_walkthrough_with_the_cli(redrive):
    """AWS News Blog, "Amazon SQS Dead-Letter Queue Redrive APIs" (seed 002)."""
    aws = redrive.aws
    # First, I create the dead-letter queue
    created = aws("create-queue", "--queue-name", "awsnewsblog-dlq")
    assert created == {"QueueUrl": redrive.queue_url("awsnewsblog-dlq")}
    dlq_url = created["QueueUrl"]
    # second, I retrieve the Arn of the queue I just created
    arn = aws("get-queue-attributes", "--queue-url", dlq_url, "--attribute-names", "QueueArn")
    dlq_arn = redrive.queue_arn("awsnewsblog-dlq")
    assert arn == {"Attributes": {"QueueArn": dlq_arn}}
    # Third, I create the application queue: DLQ after three delivery attempts
    created = aws(
        "create-queue",
        "--queue-name",
        "awsnewsblog",
        "--attributes",
        json.dumps({"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}, separators=(",", ":"))}),
    )
    assert created == {"QueueUrl": redrive.queue_url("awsnewsblog")}
    url = created["QueueUrl"]

    sent = aws("send-message", "--queue-url", url, "--message-body", "Hello World")
    assert sent["MD5OfMessageBody"] == HELLO_MD5
    message_id = sent["MessageId"]
    uuid.UUID(message_id)

    for attempt in (1, 2, 3):
        got = aws("receive-message", "--queue-url", url)
        assert len(got["Messages"]) == 1, f"receive {attempt}"
        m = got["Messages"][0]
        assert set(m) == {"MessageId", "ReceiptHandle", "MD5OfBody", "Body"}
        assert (m["MessageId"], m["MD5OfBody"], m["Body"]) == (message_id, HELLO_MD5, "Hello World")
        # wait 30 seconds, then repeat
        redrive.advance(31)

    # After three processing attempts, the message is not in the queue anymore.
    assert aws("receive-message", "--queue-url", url).get("Messages", []) == []

    # The message has been moved to the dead-letter queue.
    got = aws("receive-message", "--queue-url", dlq_url, "--attribute-names", "All")
    assert len(got["Messages"]) == 1
    m = got["Messages"][0]
    assert (m["MessageId"], m["MD5OfBody"], m["Body"]) == (message_id, HELLO_MD5, "Hello World")
    assert m["Attributes"]["ApproximateReceiveCount"] == "4"
    assert m["Attributes"]["DeadLetterQueueSourceArn"] == redrive.queue_arn("awsnewsblog")
    assert aws("list-dead-letter-source-queues", "--queue-url", dlq_url) == {"queueUrls": [url]}
    redrive.advance(31)

    started_at = redrive.advance(0)
    started = aws("start-message-move-task", "--source-arn", dlq_arn)
    assert set(started) == {"TaskHandle"}
    handle = json.loads(base64.b64decode(started["TaskHandle"], validate=True))
    assert set(handle) == {"taskId", "sourceArn"} and handle["sourceArn"] == dlq_arn
    uuid.UUID(handle["taskId"])
    wait_task(redrive, dlq_arn, lambda t: t["Status"] != "RUNNING", "the end")

    listed = aws("list-message-move-tasks", "--source-arn", dlq_arn)
    assert listed == {
        "Results": [
            {
                "Status": "COMPLETED",
                "SourceArn": dlq_arn,
                "ApproximateNumberOfMessagesMoved": 1,
                "ApproximateNumberOfMessagesToMove": 1,
                "StartedTimestamp": started_at,
            }
        ]
    }

    # Now my application can consume the message again from the application queue.
    got = aws("receive-message", "--queue-url", url, "--attribute-names", "All")
    assert len(got["Messages"]) == 1
    m = got["Messages"][0]
    assert (m["MD5OfBody"], m["Body"]) == (HELLO_MD5, "Hello World")
    assert m["MessageId"] != message_id
    uuid.UUID(m["MessageId"])
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    assert "DeadLetterQueueSourceArn" not in m["Attributes"]


def test_redrive_policy_guide_as_shell_commands(redrive):
    """Seed 004, "Configuring an SQS redrive policy": Steps 1, 2, 3 (allow policy), the
    verification, and Step 6 (StartMessageMoveTask with a rate, a table of progress)."""
    # Prerequisite: the source queue exists.
    bash(redrive, "aws sqs create-queue --queue-name orders >/dev/null")
    # Step 1 — Create the Dead-Letter Queue
    out = bash(
        redrive,
        r"""
aws sqs create-queue \
  --queue-name orders-dlq \
  --attributes MessageRetentionPeriod=1209600 # 14 days, the SQS maximum

DLQ_ARN=$(aws sqs get-queue-attributes \
  --queue-url "$(aws sqs get-queue-url --queue-name orders-dlq --output text)" \
  --attribute-names QueueArn --query 'Attributes.QueueArn' --output text)
echo "$DLQ_ARN"
""",
    )
    created, arn_line = out.rsplit("}", 1)
    assert json.loads(created + "}") == {"QueueUrl": redrive.queue_url("orders-dlq")}
    dlq_arn = arn_line.strip()
    assert dlq_arn == redrive.queue_arn("orders-dlq")
    assert redrive.attributes(redrive.queue_url("orders-dlq"), "MessageRetentionPeriod") == {
        "MessageRetentionPeriod": "1209600"
    }

    # Step 2 — Attach the RedrivePolicy to the Source Queue, and read it back.
    out = bash(
        redrive,
        rf"""
DLQ_ARN={dlq_arn}
aws sqs set-queue-attributes \
  --queue-url "$(aws sqs get-queue-url --queue-name orders --output text)" \
  --attributes "{{\"RedrivePolicy\":\"{{\\\"deadLetterTargetArn\\\":\\\"$DLQ_ARN\\\",\\\"maxReceiveCount\\\":\\\"5\\\"}}\"}}"

aws sqs get-queue-attributes \
  --queue-url "$(aws sqs get-queue-url --queue-name orders --output text)" \
  --attribute-names RedrivePolicy \
  --query 'Attributes.RedrivePolicy' --output text
""",
    )
    assert out.strip() == f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":5}}', "count stored as a number"

    # Step 3 — lock the DLQ so only the orders queue may redrive into it.
    orders_arn = redrive.queue_arn("orders")
    allow = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [orders_arn]})
    bash(
        redrive,
        f"""aws sqs set-queue-attributes --queue-url "$(aws sqs get-queue-url --queue-name orders-dlq --output text)" \\
  --attributes '{json.dumps({"RedriveAllowPolicy": allow})}'""",
    )
    assert json.loads(redrive.attributes(redrive.queue_url("orders-dlq"), "RedriveAllowPolicy")["RedriveAllowPolicy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [orders_arn],
    }
    # An unrelated queue may not dump its failures there.
    _, unrelated = redrive.create_queue("unrelated")
    err = cli_error(
        redrive,
        "set-queue-attributes",
        "--queue-url",
        unrelated,
        "--attributes",
        json.dumps({"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})}),
    )
    assert err.startswith("An error occurred (InvalidParameterValue) when calling the SetQueueAttributes operation: Value ")

    # Verification: a message the consumer always rejects cycles maxReceiveCount times
    # (the consumer is boto3 here; the checks are the guide's commands).
    orders = redrive.queue_url("orders")
    sent = redrive.sqs.send_message(QueueUrl=orders, MessageBody="poison order")
    for attempt in range(1, 6):
        got = redrive.sqs.receive_message(QueueUrl=orders, MessageSystemAttributeNames=["ApproximateReceiveCount"])
        assert got["Messages"][0]["MessageId"] == sent["MessageId"]
        assert got["Messages"][0]["Attributes"] == {"ApproximateReceiveCount": str(attempt)}
        redrive.advance(31)
    assert redrive.counts(redrive.queue_url("orders-dlq")) == (0, 0, 0), "not moved until the next receive"
    assert redrive.sqs.receive_message(QueueUrl=orders).get("Messages", []) == []
    depth = """aws sqs get-queue-attributes \\
  --queue-url "$(aws sqs get-queue-url --queue-name orders-dlq --output text)" \\
  --attribute-names ApproximateNumberOfMessages \\
  --query 'Attributes.ApproximateNumberOfMessages' --output text"""
    assert bash(redrive, depth).strip() == "1", "After ~5 failed receives, the DLQ depth should increment to 1"

    # Step 6 — Move Messages Back With StartMessageMoveTask, throttled.
    out = bash(
        redrive,
        f"""DLQ_ARN={dlq_arn}
aws sqs start-message-move-task \\
  --source-arn "$DLQ_ARN" \\
  --max-number-of-messages-per-second 50 # cap the replay rate
""",
    )
    assert set(json.loads(out)) == {"TaskHandle"}
    task = wait_task(redrive, dlq_arn, lambda t: t["Status"] == "COMPLETED", "COMPLETED")
    assert task["MaxNumberOfMessagesPerSecond"] == 50
    table = bash(
        redrive,
        f"""DLQ_ARN={dlq_arn}
aws sqs list-message-move-tasks --source-arn "$DLQ_ARN" \\
  --query 'Results[].[Status,ApproximateNumberOfMessagesMoved,ApproximateNumberOfMessagesToMove]' \\
  --output table
""",
    )
    assert "ListMessageMoveTasks" in table
    assert re.search(r"\|\s*COMPLETED\s*\|\s*1\s*\|\s*1\s*\|", table), table
    back = redrive.sqs.receive_message(QueueUrl=orders, MessageSystemAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in back] == ["poison order"]
    assert back[0]["MD5OfBody"] == md5_hex("poison order")
    assert back[0]["Attributes"]["ApproximateReceiveCount"] == "1"


def test_errors_a_cli_user_sees(redrive):
    dlq_name, dlq_url = redrive.create_queue("cli-err-dlq")
    dlq_arn = redrive.queue_arn(dlq_name)
    src_name, _ = redrive.create_queue("cli-err", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    src_arn = redrive.queue_arn(src_name)

    assert cli_error(redrive, "start-message-move-task", "--source-arn", src_arn) == error_line(
        "StartMessageMoveTask", "InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue."
    )
    assert cli_error(redrive, "start-message-move-task", "--source-arn", redrive.queue_arn("nope")) == error_line(
        "StartMessageMoveTask",
        "ResourceNotFoundException",
        "The resource that you specified for the SourceArn parameter doesn't exist.",
    )
    assert cli_error(
        redrive, "start-message-move-task", "--source-arn", dlq_arn, "--max-number-of-messages-per-second", "501"
    ) == error_line(
        "StartMessageMoveTask",
        "InvalidParameterValue",
        "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500.",
    )
    assert cli_error(redrive, "cancel-message-move-task", "--task-handle", "foobared") == error_line(
        "CancelMessageMoveTask", "InvalidParameterValue", "Value for parameter TaskHandle is invalid."
    )
    assert cli_error(redrive, "list-message-move-tasks", "--source-arn", dlq_arn, "--max-results", "11") == error_line(
        "ListMessageMoveTasks",
        "InvalidParameterValue",
        "Value for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10.",
    )
    zero = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 0})
    assert cli_error(
        redrive, "create-queue", "--queue-name", redrive.unique("zero"), "--attributes", json.dumps({"RedrivePolicy": zero})
    ) == error_line(
        "CreateQueue",
        "InvalidParameterValue",
        f"Value {zero} for parameter RedrivePolicy is invalid. Reason: "
        "Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive.",
    )
    missing = json.dumps({"deadLetterTargetArn": redrive.queue_arn("nope"), "maxReceiveCount": "3"})
    assert cli_error(
        redrive, "create-queue", "--queue-name", redrive.unique("missing"), "--attributes", json.dumps({"RedrivePolicy": missing})
    ) == error_line(
        "CreateQueue",
        "InvalidParameterValue",
        f"Value {missing} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.",
    )
    # Nothing listed, nothing running.
    assert redrive.aws("list-message-move-tasks", "--source-arn", dlq_arn).get("Results", []) == []
    assert redrive.aws("list-dead-letter-source-queues", "--queue-url", dlq_url) == {"queueUrls": [redrive.queue_url(src_name)]}


def test_cancel_a_rate_limited_redrive_with_the_cli(redrive):
    dlq_name, dlq_url = redrive.create_queue("cli-cancel-dlq")
    dlq_arn = redrive.queue_arn(dlq_name)
    _, src_url = redrive.create_queue("cli-cancel", RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}))
    dead_letter(redrive, src_url, [f"c{i}" for i in range(6)])
    handle = redrive.aws("start-message-move-task", "--source-arn", dlq_arn, "--max-number-of-messages-per-second", "2")[
        "TaskHandle"
    ]
    wait_task(redrive, dlq_arn, lambda t: t["ApproximateNumberOfMessagesMoved"] == 2, "2 moved")
    running = redrive.aws("list-message-move-tasks", "--source-arn", dlq_arn, "--max-results", "10")["Results"]
    assert len(running) == 1
    assert running[0]["Status"] == "RUNNING"
    assert running[0]["TaskHandle"] == handle
    assert running[0]["MaxNumberOfMessagesPerSecond"] == 2
    assert running[0]["ApproximateNumberOfMessagesToMove"] == 6
    assert running[0]["ApproximateNumberOfMessagesMoved"] == 2

    assert redrive.aws("cancel-message-move-task", "--task-handle", handle) == {"ApproximateNumberOfMessagesMoved": 2}
    assert redrive.aws("list-message-move-tasks", "--source-arn", dlq_arn)["Results"][0]["Status"] == "CANCELLING"
    assert cli_error(redrive, "cancel-message-move-task", "--task-handle", handle) == error_line(
        "CancelMessageMoveTask", "InvalidParameterValue", "Only active tasks can be cancelled."
    )
    redrive.advance(1)
    wait_task(redrive, dlq_arn, lambda t: t["Status"] == "CANCELLED", "CANCELLED")
    done = redrive.aws("list-message-move-tasks", "--source-arn", dlq_arn)["Results"][0]
    assert "TaskHandle" not in done
    assert (done["Status"], done["ApproximateNumberOfMessagesMoved"]) == ("CANCELLED", 2)
    assert redrive.counts(dlq_url)[0] == 4
    assert redrive.counts(src_url)[0] == 2
