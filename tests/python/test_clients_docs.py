"""The recipes of docs/clients.md, read out of the page and run against a fresh server.

Each recipe is the fenced block after a `<!-- recipe: NAME -->` line; its
`127.0.0.1:9324` becomes the test server's address. The test then checks what a
user of the recipe would: the body it printed, the worker's log, and the queues it left behind.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, Redrive, ServerProcess

DOCS = ROOT / "docs" / "clients.md"
DOC_ADDRESS = "127.0.0.1:9324"
RECIPE_RE = re.compile(r"<!-- recipe: ([\w-]+) -->\n```\w+\n(.*?)\n```", re.DOTALL)


def recipe(name: str, endpoint: str | None = None) -> str:
    """The recipe's code; given an endpoint, with the page's server address replaced by it."""
    recipes = dict(RECIPE_RE.findall(DOCS.read_text(encoding="utf-8")))
    assert name in recipes, f"no recipe {name!r} in {DOCS} (found {sorted(recipes)})"
    code = recipes[name]
    if endpoint is None:
        return code
    assert DOC_ADDRESS in code, f"recipe {name} does not name {DOC_ADDRESS}"
    return code.replace(DOC_ADDRESS, endpoint.removeprefix("http://"))


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


def run(args: list[str], code: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        args, input=code, env=recipe_env(), capture_output=True, text=True, timeout=120, cwd=cwd
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


class CeleryWorker:
    """The recipe's `celery ... worker` command in its own process group, its log read as it comes."""

    def __init__(self, command: str, cwd: Path):
        self.proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=cwd,
            env=recipe_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.ended = False
        self.changed = threading.Condition()
        threading.Thread(target=self._read, name="celery-worker-log", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def log(self) -> str:
        with self.changed:
            return "".join(self.lines)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 30) -> list[str]:
        """The log's lines matching pattern, once there are count of them."""
        regex = re.compile(pattern)

        def matches() -> list[str]:
            return [line for line in self.lines if regex.search(line)]

        with self.changed:
            self.changed.wait_for(lambda: len(matches()) >= count or self.ended, timeout)
            found = matches()
        assert len(found) >= count, f"{count} x {pattern!r} not in the worker's log:\n{self.log()}"
        return found

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown) to the group, then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def celery_project(server: Redrive, tmp_path: Path, extra_tasks: str = "") -> int:
    """The page's celeryconfig.py and tasks.py (plus extra_tasks) in tmp_path, the queues made
    by an earlier recipe as the page says; returns the config's visibility timeout."""
    run([sys.executable, "-"], recipe("boto3", server.endpoint))
    config = recipe("celery-config", server.endpoint)
    (tmp_path / "celeryconfig.py").write_text(config, encoding="utf-8")
    (tmp_path / "tasks.py").write_text(recipe("celery-tasks") + extra_tasks, encoding="utf-8")
    settings: dict = {}
    exec(config, settings)
    visibility_timeout = settings["broker_transport_options"]["visibility_timeout"]
    queue_timeout = server.attributes(server.queue_url("orders"), "VisibilityTimeout")["VisibilityTimeout"]
    assert queue_timeout == str(visibility_timeout), "the config's visibility_timeout is the queue's"
    return visibility_timeout


def dead_lettered_task(server: Redrive, worker: CeleryWorker) -> dict:
    """Once orders-dlq holds one message and orders none: the kombu envelope's headers."""
    url, dlq_url = server.queue_url("orders"), server.queue_url("orders-dlq")
    deadline = time.monotonic() + 30
    while server.counts(dlq_url) != (1, 0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.counts(dlq_url) == (1, 0, 0), worker.log()
    assert server.counts(url) == (0, 0, 0), worker.log()
    [message] = server.sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    return json.loads(base64.b64decode(message["Body"]))["headers"]


def test_the_celery_recipe_runs_tasks_and_dead_letters_one_that_always_fails(server, tmp_path):
    visibility_timeout = celery_project(server, tmp_path)
    worker = CeleryWorker(recipe("celery-worker"), cwd=tmp_path)
    try:
        worker.wait_for(r"celery@\S+ ready\.")
        run([sys.executable, "-"], recipe("celery-send"), cwd=tmp_path)
        done = worker.wait_for(r"Task tasks\.charge\[[\w-]+\] succeeded in [\d.e-]+s: 'charged order 42'")
        assert len(done) == 1, worker.log()

        # refund raises every time. Its message is not deleted: each time its visibility
        # timeout is over (the server's clock moved past it) the worker runs it again,
        # until the receive after the fifth moves it to the dead-letter queue.
        failed = r"Task tasks\.refund\[[\w-]+\] raised unexpected: RuntimeError\('payment service down"
        for runs in range(1, 6):
            worker.wait_for(failed, count=runs)
            server.advance(visibility_timeout)
        headers = dead_lettered_task(server, worker)
        assert len(worker.wait_for(failed)) == 5, worker.log()
    finally:
        worker.stop()
    # What orders-dlq holds is the refund task as Celery sent it; charge's message was deleted.
    assert (headers["task"], headers["argsrepr"]) == ("tasks.refund", "(42,)"), headers


CRASHING_TASK = """

@app.task
def crash(order):
    import os, signal

    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_celery_recipe_dead_letters_a_task_whose_worker_process_dies(server, tmp_path):
    visibility_timeout = celery_project(server, tmp_path, extra_tasks=CRASHING_TASK)
    worker = CeleryWorker(recipe("celery-worker"), cwd=tmp_path)
    try:
        worker.wait_for(r"celery@\S+ ready\.")
        run([sys.executable, "-"], "from tasks import crash\ncrash.delay(7)\n", cwd=tmp_path)
        # The message outlives each death: task_reject_on_worker_lost puts it back (kombu makes
        # it visible again after wait_time_seconds, less than the visibility timeout), and
        # task_acks_on_failure = False alone would leave it hidden for the visibility timeout.
        # The receive after the fifth moves it to the dead-letter queue.
        lost = r"Task handler raised error: WorkerLostError"
        for runs in range(1, 6):
            worker.wait_for(lost, count=runs)
            server.advance(visibility_timeout)
        headers = dead_lettered_task(server, worker)
        assert len(worker.wait_for(lost)) == 5, worker.log()
    finally:
        worker.stop()
    assert (headers["task"], headers["argsrepr"]) == ("tasks.crash", "(7,)"), headers
