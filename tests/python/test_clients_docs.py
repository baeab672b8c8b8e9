"""The recipes of docs/clients.md, read out of the page and run against a fresh server.

Each recipe is the fenced block after a `<!-- recipe: NAME -->` line; its
`http://127.0.0.1:9324` becomes the test server's address. The test then checks what a
user of the recipe would: the body it printed, and the queues it left behind.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, Redrive, ServerProcess

DOCS = ROOT / "docs" / "clients.md"
DOC_ENDPOINT = "http://127.0.0.1:9324"
RECIPE_RE = re.compile(r"<!-- recipe: ([\w-]+) -->\n```\w+\n(.*?)\n```", re.DOTALL)


def recipe(name: str, endpoint: str) -> str:
    recipes = dict(RECIPE_RE.findall(DOCS.read_text(encoding="utf-8")))
    assert name in recipes, f"no recipe {name!r} in {DOCS} (found {sorted(recipes)})"
    code = recipes[name]
    assert DOC_ENDPOINT in code, f"recipe {name} does not name {DOC_ENDPOINT}"
    return code.replace(DOC_ENDPOINT, endpoint)


@pytest.fixture
def server(tmp_path):
    """A server of its own per recipe: every recipe creates the same queue names."""
    process = ServerProcess(log_dir=tmp_path).start()
    try:
        yield Redrive(process)
    finally:
        process.stop()


def recipe_env() -> dict[str, str]:
    """The environment of a user's shell: this venv's `aws` and `python3` first, no AWS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_PAGER": ""})
    return env


def run(args: list[str], code: str) -> str:
    result = subprocess.run(
        args, input=code, env=recipe_env(), capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, f"recipe exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def assert_orders_left_as_the_recipe_says(server: Redrive) -> None:
    """orders and orders-dlq exist, orders dead-letters into orders-dlq after 5 receives, both are empty."""
    sqs = server.sqs
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="orders-dlq")["QueueUrl"]
    policy = json.loads(server.attributes(url, "RedrivePolicy")["RedrivePolicy"])
    assert policy == {"deadLetterTargetArn": server.queue_arn("orders-dlq"), "maxReceiveCount": 5}
    assert server.counts(url) == (0, 0, 0), "the message was deleted"
    assert server.counts(dlq_url) == (0, 0, 0)


def test_the_aws_cli_recipe_creates_the_queues_and_round_trips_a_message(server):
    out = run(["bash", "-euo", "pipefail"], recipe("aws-cli", server.endpoint))
    assert '{"order": 42}\n' in out, out
    # The move task it starts on the (empty) dead-letter queue is listed, and completed.
    tasks = json.loads(out[out.rindex('{\n    "Results"') :])["Results"]
    assert [t["Status"] for t in tasks] == ["COMPLETED"], tasks
    assert tasks[0]["SourceArn"] == server.queue_arn("orders-dlq")
    assert_orders_left_as_the_recipe_says(server)


def test_the_boto3_recipe_creates_the_queues_and_round_trips_a_message_at_every_start(server):
    code = recipe("boto3", server.endpoint)
    assert run([sys.executable, "-"], code) == '{"order": 42}\n'
    assert_orders_left_as_the_recipe_says(server)
    # Run again, as a start-up script would: CreateQueue with the same attributes is a no-op.
    assert run([sys.executable, "-"], code) == '{"order": 42}\n'
    assert_orders_left_as_the_recipe_says(server)
    assert sorted(server.sqs.list_queues()["QueueUrls"]) == [server.queue_url("orders"), server.queue_url("orders-dlq")]
