"""Fixtures for the end-to-end suite: a real `redrive` process per test module.

The server runs with `--in-memory --manual-clock` on an ephemeral port. Tests
move its clock with `redrive.advance(seconds)` instead of sleeping.

In cluster mode the module's server is instead three nodes on a fresh PostgreSQL database
behind nginx (tests/python/cluster.py); tests marked `single_node` (they read or stop the
shared server's one process) are skipped there, with their reason.

Environment:
  REDRIVE_BIN            path of the server binary (default: target/debug/redrive)
  REDRIVE_TEST_CLUSTER   a PostgreSQL URL (scripts/pg's): run the suite in cluster mode
"""

from __future__ import annotations

import json
import os
import queue as queue_mod
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = ROOT / "target" / "debug" / "redrive"
LISTEN_RE = re.compile(r"^redrive listening on (https?://127\.0\.0\.1:(\d+))\s*$")
REGION = "us-east-1"
ACCOUNT = "000000000000"
STARTUP_TIMEOUT = 30.0
CLUSTER_URL = os.environ.get("REDRIVE_TEST_CLUSTER", "")

# Never let a developer's own AWS setup leak into the tests.
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"):
    os.environ.pop(_var, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "AKIDREDRIVETEST",
        "AWS_SECRET_ACCESS_KEY": "redrive-test-secret",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
    }
)


def redrive_binary() -> Path:
    path = Path(os.environ.get("REDRIVE_BIN", DEFAULT_BIN))
    if not path.is_file():
        pytest.exit(f"redrive binary not found at {path}: run `cargo build -p redrive --bins` or set REDRIVE_BIN", 2)
    return path


class ServerProcess:
    """One running `redrive` process; stderr and later stdout go to a log file."""

    def __init__(
        self,
        args: list[str] | None = None,
        log_dir: Path | None = None,
        in_memory: bool = True,
        env: dict[str, str] | None = None,
    ):
        self.binary = redrive_binary()
        base = ["--in-memory"] if in_memory else []
        self.args = [*base, "--bind", "127.0.0.1:0", "--manual-clock", *(args or [])]
        self.extra_env = env or {}
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix="redrive-test-"))
        self.log_path = log_dir / f"redrive-{uuid.uuid4().hex[:8]}.log"
        self.proc: subprocess.Popen | None = None
        self.endpoint = ""
        self.port = 0
        self.first_line = ""

    def start(self) -> "ServerProcess":
        log = open(self.log_path, "w", encoding="utf-8")
        # A developer's own REDRIVE_* settings must not change what the tests see.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REDRIVE_")}
        env.setdefault("RUST_BACKTRACE", "1")
        env.update(self.extra_env)
        self.proc = subprocess.Popen(
            [str(self.binary), *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            env=env,
        )
        lines: queue_mod.Queue[str | None] = queue_mod.Queue()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            first = True
            for line in self.proc.stdout:
                if first:
                    lines.put(line)
                    first = False
                else:
                    log.write(line)
                    log.flush()
            if first:
                lines.put(None)

        threading.Thread(target=pump, name="redrive-stdout", daemon=True).start()
        try:
            line = lines.get(timeout=STARTUP_TIMEOUT)
        except queue_mod.Empty:
            self.stop()
            raise RuntimeError(f"redrive did not report listening within {STARTUP_TIMEOUT}s; log:\n{self.log_tail()}")
        if line is None:
            code = self.proc.wait(timeout=10)
            raise RuntimeError(f"redrive exited ({code}) before listening; log:\n{self.log_tail()}")
        self.first_line = line
        match = LISTEN_RE.match(line)
        if not match:
            self.stop()
            raise RuntimeError(f"unexpected first stdout line from redrive: {line!r}")
        self.endpoint, self.port = match.group(1), int(match.group(2))
        return self

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-limit:]
        except OSError:
            return "<no log>"

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def http_request(method: str, url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 30.0):
    """Plain HTTP call; returns (status, headers, body bytes) also for 4xx/5xx answers."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


class Redrive:
    """What a test gets: endpoint, boto3 client and helpers bound to one server."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.endpoint = server.endpoint
        self.port = server.port
        self.region = REGION
        self.account = ACCOUNT
        self.sqs = self.client()

    def client(self, **config):
        settings = {
            "retries": {"total_max_attempts": 1, "mode": "standard"},
            "connect_timeout": 5,
            "read_timeout": 60,
        }
        settings.update(config)
        return boto3.session.Session(
            aws_access_key_id="AKIDREDRIVETEST",
            aws_secret_access_key="redrive-test-secret",
            region_name=REGION,
        ).client("sqs", endpoint_url=self.endpoint, config=Config(**settings))

    # --- clock -------------------------------------------------------------
    def advance(self, seconds: float) -> int:
        """Move the server's manual clock forward; returns the new time in epoch ms."""
        ms = int(round(seconds * 1000))
        status, _, body = http_request("POST", f"{self.endpoint}/_redrive/clock/advance?ms={ms}", data=b"")
        assert status == 200, f"clock advance answered {status}: {body[:500]!r}"
        return int(json.loads(body)["now_ms"])

    # --- names and queues ----------------------------------------------------
    @staticmethod
    def unique(prefix: str = "q") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    def queue_url(self, name: str) -> str:
        return f"{self.endpoint}/{ACCOUNT}/{name}"

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"

    def create_queue(self, prefix: str = "q", **attributes) -> tuple[str, str]:
        """Create a uniquely named queue; returns (name, url)."""
        name = self.unique(prefix)
        kwargs = {"QueueName": name}
        if attributes:
            kwargs["Attributes"] = {k: str(v) for k, v in attributes.items()}
        url = self.sqs.create_queue(**kwargs)["QueueUrl"]
        return name, url

    def attributes(self, url: str, *names: str) -> dict:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"]).get("Attributes", {})

    def counts(self, url: str) -> tuple[int, int, int]:
        """(visible, not visible, delayed) message counts."""
        a = self.attributes(
            url,
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
        return (
            int(a["ApproximateNumberOfMessages"]),
            int(a["ApproximateNumberOfMessagesNotVisible"]),
            int(a["ApproximateNumberOfMessagesDelayed"]),
        )

    def receive_all(self, url: str, rounds: int = 20, **kwargs) -> list[dict]:
        """Drain visible messages with short (non-waiting) receives."""
        out: list[dict] = []
        kwargs.setdefault("MaxNumberOfMessages", 10)
        kwargs.setdefault("WaitTimeSeconds", 0)
        for _ in range(rounds):
            got = self.sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", [])
            if not got:
                break
            out.extend(got)
        return out

    # --- raw HTTP ------------------------------------------------------------
    def http(self, method: str, path_or_url: str, data: bytes | None = None, headers: dict | None = None):
        url = path_or_url if path_or_url.startswith("http") else f"{self.endpoint}{path_or_url}"
        return http_request(method, url, data=data, headers=headers)

    # --- AWS CLI -------------------------------------------------------------
    def aws_command(self, *args: str) -> list[str]:
        exe = Path(sys.executable).parent / "aws"
        aws = str(exe) if exe.exists() else shutil.which("aws")
        if not aws:
            pytest.fail("the AWS CLI is not installed in this Python environment (pip install awscli)")
        return [aws, "--endpoint-url", self.endpoint, "--region", REGION, "--output", "json", "sqs", *args]

    def aws_run(self, *args: str) -> subprocess.CompletedProcess:
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
        return subprocess.run(
            self.aws_command(*args), env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )

    def aws(self, *args: str):
        """Run `aws sqs ARGS...`; returns the parsed JSON output ({} when it prints nothing)."""
        result = self.aws_run(*args)
        assert result.returncode == 0, (
            f"aws sqs {' '.join(args)} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return json.loads(result.stdout) if result.stdout.strip() else {}


def pytest_collection_modifyitems(config, items):
    if not CLUSTER_URL:
        return
    for item in items:
        marker = item.get_closest_marker("single_node")
        if marker is not None:
            why = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "assumes one server process")
            item.add_marker(pytest.mark.skip(reason=f"single node only: {why}"))


@pytest.fixture(scope="module")
def redrive(request, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("redrive-logs")
    if CLUSTER_URL:
        from cluster import Cluster

        server = Cluster(CLUSTER_URL, log_dir, label=request.module.__name__).start()
    else:
        server = ServerProcess(log_dir=log_dir).start()
    try:
        yield Redrive(server)
    finally:
        code = server.stop()
        if code not in (0, None):
            sys.stderr.write(f"\nredrive exited with {code}; log tail:\n{server.log_tail()}\n")


@pytest.fixture
def sqs(redrive):
    return redrive.sqs


@pytest.fixture
def queue(redrive):
    """A fresh standard queue with default attributes: (name, url)."""
    return redrive.create_queue("t")
