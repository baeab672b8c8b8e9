"""Three `redrive` nodes on one PostgreSQL database, behind nginx's round robin.

What the suite's `redrive` fixture starts in cluster mode (`REDRIVE_TEST_CLUSTER` set to a
PostgreSQL URL, as scripts/test's `cluster` suite does): a fresh database for the test module
on that server, three nodes sharing it (`--store`, each on its own port, all with nginx's
address as `--public-url`), and nginx in front, which hands each request to the next node in
turn. A test talks to nginx only; which node answers is nginx's choice, so every request a
follower gets is forwarded to the leader — the path a real deployment's requests take.

nginx runs as the current user from a directory of its own (config, pid, logs, temp files);
its access log names the node that answered each request.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from conftest import ServerProcess, http_request

NODES = 3
READY_TIMEOUT = 60.0

# One nginx per test module. Request and answer bodies stream through (no buffering of
# answers: long polls and large receives pass as the node sends them); a request body is read
# whole first, as a production nginx does by default.
NGINX_TEMPLATE = """\
# Written by tests/python/cluster.py: round robin, per request, over the test's redrive nodes.
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
events {{
    worker_connections 1024;
}}

http {{
    log_format upstream '$remote_addr "$request" $status $body_bytes_sent '
                        'node=$upstream_addr node_status=$upstream_status $request_time s';
    access_log {dir}/access.log upstream;
    client_body_temp_path {dir}/temp/body;
    proxy_temp_path {dir}/temp/proxy;
    fastcgi_temp_path {dir}/temp/fastcgi;
    uwsgi_temp_path {dir}/temp/uwsgi;
    scgi_temp_path {dir}/temp/scgi;

    upstream redrive {{
{servers}
        # HTTP/1.1 keep-alive to the nodes; closed before the nodes' own 120 s idle close.
        keepalive 16;
        keepalive_timeout 60s;
    }}

    server {{
        listen 127.0.0.1:{port};
        # Above redrive's 5 MiB limit, so that the node answers 413 itself, in SQS's words.
        client_max_body_size 8m;
        # Redrive reads request heads up to 64 KiB (a Query request in a URL can be long).
        large_client_header_buffers 4 64k;
        underscores_in_headers on;
        server_tokens off;

        location / {{
            proxy_pass http://redrive;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # SigV4 signs the Host header: it must reach the node as the client sent it.
            proxy_set_header Host $http_host;
            proxy_buffering off;
            # Long polls last up to 20 s.
            proxy_read_timeout 90s;
            proxy_send_timeout 90s;
            proxy_pass_header Server;
            proxy_pass_header Date;
        }}
    }}
}}
"""


class HarnessError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_tool(name: str, *globs: str) -> str | None:
    for pattern in globs:
        for path in sorted(glob.glob(pattern), reverse=True):
            if os.access(path, os.X_OK):
                return path
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )


def with_database(url: str, name: str) -> str:
    """The same server's URL naming database NAME instead."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def psql(url: str, sql: str) -> None:
    exe = find_tool("psql", "/usr/lib/postgresql/*/bin/psql")
    if exe is None:
        raise HarnessError("psql not found: install Debian's postgresql-client (scripts/pg does)")
    done = subprocess.run(
        [exe, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise HarnessError(f"psql {sql!r} failed ({done.returncode}): {done.stderr.strip()}")


class Nginx:
    """nginx from a directory of its own, proxying 127.0.0.1:PORT to the given upstreams."""

    def __init__(self, port: int, upstreams: list[str], workdir: Path):
        exe = find_tool("nginx")
        if exe is None:
            raise HarnessError("nginx not found: install Debian's nginx (scripts/test does)")
        self.exe = exe
        self.port = port
        self.dir = workdir
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / "temp" / sub).mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "nginx.conf"
        self.error_log = self.dir / "error.log"
        self.conf.write_text(render_nginx_conf(port, upstreams, self.dir), encoding="utf-8")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> "Nginx":
        out = open(self.dir / "nginx.out", "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [self.exe, "-p", str(self.dir), "-c", str(self.conf), "-e", str(self.error_log)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(f"nginx exited ({self.proc.returncode}) at start:\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise HarnessError(f"nginx did not listen on {self.port} within {timeout}s:\n{self.log_tail()}")

    def port_was_taken(self) -> bool:
        return "Address already in use" in self.log_tail()

    def log_tail(self, limit: int = 3000) -> str:
        text = ""
        for path in (self.dir / "nginx.out", self.error_log):
            try:
                text += path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                pass
        return text[-limit:] or "<empty>"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # Fast shutdown: a long poll in flight must not hold the module's teardown.
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def render_nginx_conf(port: int, upstreams: list[str], workdir: Path) -> str:
    # As root, nginx would run its worker as `nobody`, which cannot write the temp dirs here.
    user = "user root root;" if os.geteuid() == 0 else ""
    servers = "\n".join(f"        server {addr};" for addr in upstreams)
    return NGINX_TEMPLATE.format(dir=workdir, user=user, servers=servers, port=port)


class Cluster:
    """A fresh database on the server at `postgres_url`, three nodes on it, nginx in front.

    Has what `Redrive` reads of a server: `endpoint` and `port` (nginx's), `log_tail()`, `stop()`.
    """

    def __init__(self, postgres_url: str, log_dir: Path, label: str = "", nodes: int = NODES):
        self.postgres_url = postgres_url
        self.log_dir = log_dir
        self.count = nodes
        slug = re.sub(r"[^a-z0-9_]", "_", label.lower())[:40]
        self.database = f"rt_{slug}_{uuid.uuid4().hex[:8]}" if slug else f"rt_{uuid.uuid4().hex[:12]}"
        self.store_url = with_database(postgres_url, self.database)
        self.nodes: list[ServerProcess] = []
        self.proxy: Nginx | None = None
        self.endpoint = ""
        self.port = 0
        self.created = False

    # --- start ------------------------------------------------------------------------------
    def start(self) -> "Cluster":
        psql(with_database(self.postgres_url, "postgres"), f"CREATE DATABASE {self.database}")
        self.created = True
        try:
            for attempt in range(3):
                port = free_port()
                self._start_nodes(f"http://127.0.0.1:{port}")
                proxy = Nginx(port, [n.endpoint.removeprefix("http://") for n in self.nodes], self._proxy_dir(attempt))
                try:
                    self.proxy = proxy.start()
                    break
                except HarnessError:
                    # The port chosen was taken before nginx bound it: the nodes carry it in their
                    # public URL, so they start again with the next one.
                    if attempt < 2 and proxy.port_was_taken():
                        self._stop_nodes()
                        continue
                    raise
            self.endpoint = f"http://127.0.0.1:{self.proxy.port}"
            self.port = self.proxy.port
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _proxy_dir(self, attempt: int) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"nginx-{attempt}-", dir=self.log_dir))

    def _start_nodes(self, public_url: str) -> None:
        args = ["--store", self.store_url, "--public-url", public_url]
        self.nodes = [ServerProcess(args=args, log_dir=self.log_dir, in_memory=False) for _ in range(self.count)]
        errors: list[BaseException] = []

        def start(node: ServerProcess) -> None:
            try:
                node.start()
            except BaseException as exc:  # noqa: BLE001 - reported below with the others
                errors.append(exc)

        # Together, as a deployment's nodes start: the migrations and the first election race.
        threads = [threading.Thread(target=start, args=(n,), daemon=True) for n in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise HarnessError(f"a node did not start: {errors[0]}\n{self.log_tail()}")

    def _wait_ready(self) -> None:
        """Until every node's own /ready, then nginx's, answers 200."""
        deadline = time.monotonic() + READY_TIMEOUT
        last: dict[str, str] = {}
        targets = [n.endpoint for n in self.nodes] + [self.endpoint]
        pending = list(targets)
        while pending and time.monotonic() < deadline:
            for endpoint in list(pending):
                try:
                    status, _, body = http_request("GET", f"{endpoint}/ready", timeout=2)
                except OSError as exc:
                    status, body = 0, str(exc).encode()
                last[endpoint] = f"{status} {body[:200].decode('utf-8', 'replace').strip()}"
                if status == 200:
                    pending.remove(endpoint)
            for node in self.nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    raise HarnessError(f"node {node.endpoint} exited ({node.proc.returncode}):\n{self.log_tail()}")
            if pending:
                time.sleep(0.1)
        if pending:
            answers = "\n".join(f"  {e}/ready -> {last.get(e, 'no answer')}" for e in targets)
            raise HarnessError(f"not ready within {READY_TIMEOUT}s:\n{answers}\n{self.log_tail()}")

    # --- reading and stopping ------------------------------------------------------------------
    def log_tail(self, limit: int = 3000) -> str:
        parts = [f"--- node {n.endpoint or '(not listening)'}: {n.log_path}\n{n.log_tail(limit)}" for n in self.nodes]
        if self.proxy is not None:
            parts.append(f"--- nginx: {self.proxy.dir}\n{self.proxy.log_tail(limit)}")
        return "\n".join(parts)

    def _stop_nodes(self, timeout: float = 10.0) -> int | None:
        """SIGTERM to all at once (each releases what it holds), SIGKILL after `timeout`."""
        running = [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        for node in running:
            node.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in running:
            try:
                node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(timeout=10)
        codes = [n.proc.returncode for n in self.nodes if n.proc is not None]
        return next((c for c in codes if c != 0), codes[0] if codes else None)

    def stop(self) -> int | None:
        """Stops nginx and the nodes, drops the database; returns the first non-zero exit code."""
        if self.proxy is not None:
            self.proxy.stop()
        code = self._stop_nodes()
        if self.created:
            try:
                psql(with_database(self.postgres_url, "postgres"), f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
            except HarnessError as exc:
                print(f"cluster: {exc}")
            self.created = False
        return code
