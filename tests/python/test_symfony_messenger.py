"""Symfony Messenger's Amazon SQS transport (PHP) against Redrive: the DSNs of docs/clients.md's
Symfony recipe, and one copied from ElasticMQ, through tests/php/messenger_roundtrip.php.

PHP and the transport are Debian's packages (php-cli, php-symfony-amazon-sqs-messenger: Symfony
5.4 on AsyncAws SQS 1.x, which speaks the Query protocol), installed by scripts/test: Composer's
registry is not among the registries this project's machines reach.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT, Redrive, ServerProcess
from test_clients_docs import DOCS, RECIPE_RE, recipe_env

PROGRAM = ROOT / "tests" / "php" / "messenger_roundtrip.php"
DOC_SERVER = "127.0.0.1:9324"
ROUND_TRIP = '[{"class":"PlaceOrder","order":42}]\n'


@pytest.fixture
def server(tmp_path):
    """`orders` declared at start, as the recipe asks for a DSN that names the account."""
    process = ServerProcess(args=["--queue", "orders"], log_dir=tmp_path).start()
    try:
        yield Redrive(process)
    finally:
        process.stop()


def transports(server: Redrive) -> dict[str, str]:
    """The recipe's transports by name, their DSNs pointed at `server`."""
    recipe = dict(RECIPE_RE.findall(DOCS.read_text(encoding="utf-8"))).get("symfony-messenger")
    assert recipe, f"no recipe symfony-messenger in {DOCS}"
    assert DOC_SERVER in recipe
    host_port = server.endpoint.removeprefix("http://")
    config = yaml.safe_load(recipe.replace(DOC_SERVER, host_port))
    found = config["framework"]["messenger"]["transports"]
    return {name: t if isinstance(t, str) else t["dsn"] for name, t in found.items()}


def php(dsn: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("php"), "no php: scripts/test installs php-cli and php-symfony-amazon-sqs-messenger"
    return subprocess.run(
        ["php", str(PROGRAM), dsn], env=recipe_env(), capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_the_recipes_dsns_send_receive_and_acknowledge_a_message_and_create_an_account_less_queue(server):
    dsns = transports(server)
    assert sorted(dsns) == ["failed", "orders"]

    sent = php(dsns["orders"])
    assert (sent.returncode, sent.stdout) == (0, ROUND_TRIP), sent.stderr
    assert server.counts(server.queue_url("orders")) == (0, 0, 0), "acknowledged: deleted"

    # The failure transport's DSN names no account: auto_setup creates its queue at first use.
    assert server.sqs.list_queues()["QueueUrls"] == [server.queue_url("orders")]
    failed = php(dsns["failed"])
    assert (failed.returncode, failed.stdout) == (0, ROUND_TRIP), failed.stderr
    assert sorted(server.sqs.list_queues()["QueueUrls"]) == [server.queue_url("orders"), server.queue_url("orders-failed")]
    assert server.counts(server.queue_url("orders-failed")) == (0, 0, 0)


def test_a_dsn_written_for_elasticmq_asks_for_account_queue_and_is_told_where_the_queues_are(server):
    elasticmq = transports(server)["orders"].replace("/000000000000/orders?", "/queue/orders?")
    assert "/queue/orders?" in elasticmq

    # auto_setup (the default) asks whether the queue exists, and Symfony words the answer.
    setup = php(elasticmq)
    assert setup.returncode == 1, setup.stdout
    assert setup.stderr == (
        'Symfony\\Component\\Messenger\\Exception\\InvalidArgumentException: The Amazon SQS queue "orders" '
        "does not exist (or you don't have permissions on it), and can't be created when an account is provided.\n"
    )

    # Without it, GetQueueUrl's answer reaches the user: SQS's code, and where the queues are.
    lookup = php(elasticmq + "&auto_setup=false")
    assert lookup.returncode == 1, lookup.stdout
    assert "Code:    AWS.SimpleQueueService.NonExistentQueue\n" in lookup.stderr, lookup.stderr
    assert (
        "Message: The specified queue orders does not exist in account queue (QueueOwnerAWSAccountId). "
        "This server's queues are in account 000000000000: name that account or none "
        "(a Symfony Messenger DSN reads sqs://HOST/000000000000/orders).\n"
    ) in lookup.stderr, lookup.stderr

    assert server.sqs.list_queues()["QueueUrls"] == [server.queue_url("orders")], "nothing created elsewhere"
