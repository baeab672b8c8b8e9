"""Several nodes on one PostgreSQL: failover, fencing, a node cut off from the database, and long
polls across nodes (issue 20; docs/multi-node.md).

Each test makes a database of its own on the PostgreSQL that REDRIVE_TEST_POSTGRES names
(scripts/test starts a throwaway one) and starts its nodes as a user would:
`redrive --store URL --bind ADDR:PORT --public-url URL`, with a 2 s lease so takeovers are quick.
The nodes run on the real clock: failover is real time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from conftest import redrive_binary

DATABASE = os.environ.get("REDRIVE_TEST_POSTGRES", "")
pytestmark = pytest.mark.skipif(not DATABASE, reason="REDRIVE_TEST_POSTGRES is not set (scripts/test sets it)")

LEASE_TTL = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database() -> str:
    """A new, empty database on the test server; its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", DATABASE, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    parts = urllib.parse.urlsplit(DATABASE)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


class Node:
    def __init__(self, database: str, port: int, public_url: str, log_dir: Path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log_dir / f"node-{port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("REDRIVE_")}
        self.proc = subprocess.Popen(
            [str(redrive_binary()), "--store", database, "--bind", f"127.0.0.1:{port}",
             "--public-url", public_url, "--lease-ttl", str(LEASE_TTL)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), env=env,
        )

    def ready(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.url}/ready", timeout=2) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.load(e)
        except OSError:
            return None

    def role(self) -> str | None:
        r = self.ready()
        return r and r["role"]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def client(url: str, **config):
    settings = {"retries": {"total_max_attempts": 1}, "connect_timeout": 5, "read_timeout": 40}
    settings.update(config)
    return boto3.session.Session(
        aws_access_key_id="AKIDREDRIVETEST", aws_secret_access_key="redrive-test-secret", region_name="us-east-1"
    ).client("sqs", endpoint_url=url, config=Config(**settings))


def wait_for(predicate, timeout: float, what: str, nodes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    logs = "\n".join(f"--- node {n.port}:\n{n.tail()}" for n in nodes)
    raise AssertionError(f"{what}: not within {timeout} s\n{logs}")


class Cluster:
    def __init__(self, count: int, database: str | None = None):
        self.database = database or fresh_database()
        self.dir = Path(tempfile.mkdtemp(prefix="redrive-cluster-"))
        ports = [free_port() for _ in range(count)]
        self.public_url = f"http://127.0.0.1:{ports[0]}"
        self.nodes = [Node(self.database, p, self.public_url, self.dir) for p in ports]
        wait_for(lambda: all(n.role() in ("leader", "follower") for n in self.nodes), 30, "every node ready", self.nodes)

    def leader(self) -> Node:
        return wait_for(lambda: next((n for n in self.nodes if n.role() == "leader"), None), 15, "a leader", self.nodes)

    def others(self, node: Node) -> list[Node]:
        return [n for n in self.nodes if n is not node]

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


@pytest.fixture
def cluster3():
    c = Cluster(3)
    yield c
    c.stop()


def test_any_node_answers_for_any_queue_and_urls_carry_the_public_url(cluster3):
    a, b, c = (client(n.url) for n in cluster3.nodes)
    url = a.create_queue(QueueName="orders")["QueueUrl"]
    assert url == f"{cluster3.public_url}/000000000000/orders"
    assert b.get_queue_url(QueueName="orders")["QueueUrl"] == url
    ids = {c.send_message(QueueUrl=url, MessageBody=f"m{i}")["MessageId"] for i in range(10)}
    got = []
    for _ in range(10):
        got += b.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if len(got) == 10:
            break
    assert {m["MessageId"] for m in got} == ids
    # Signed requests verify at the leader though a follower forwarded them: the SDK's
    # signature covers the Host header, which the forward keeps.
    assert all(n.ready()["role"] in ("leader", "follower") for n in cluster3.nodes)


def test_a_killed_leaders_queues_are_served_by_the_others_within_ten_seconds(cluster3):
    leader = cluster3.leader()
    survivor = cluster3.others(leader)[0]
    sqs = client(survivor.url)
    url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    sent = {sqs.send_message(QueueUrl=url, MessageBody=f"body-{i}")["MessageId"]: f"body-{i}" for i in range(50)}
    in_flight = []
    while len(in_flight) < 10:
        in_flight += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10 - len(in_flight)).get("Messages", [])
    deleted = {m["MessageId"] for m in in_flight[:5]}
    for m in in_flight[:5]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    killed_at = time.monotonic()
    leader.signal(signal.SIGKILL)
    # The first request after the kill waits at the follower until another node leads. A
    # forward that was on its way over a connection to the dead leader is answered 503 (the node
    # cannot know whether it was applied): the SDK retries it, as SDKs do.
    retrying = client(survivor.url, retries={"total_max_attempts": 5, "mode": "standard"})
    retrying.send_message(QueueUrl=url, MessageBody="after the kill")
    failover = time.monotonic() - killed_at
    print(f"failover: {failover:.2f} s from kill -9 to an acknowledged send through a surviving node")
    assert failover < 10, f"the queue was unavailable for {failover:.1f} s"
    new_leader = cluster3.leader()
    assert new_leader is not leader

    # Every acknowledged send is there once; no acknowledged delete is back; the five received
    # but not deleted stay invisible (their 300 s visibility timeout is the new leader's too).
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])) == (41, 5)
    seen = {}
    for _ in range(30):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            assert m["MessageId"] not in seen, "a message was delivered twice"
            seen[m["MessageId"]] = m["Body"]
        if len(seen) == 41:
            break
    # A receipt handle the dead leader gave out works at the new one.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=in_flight[5]["ReceiptHandle"])
    in_flight_ids = {m["MessageId"] for m in in_flight}
    expected = {i: b for i, b in sent.items() if i not in in_flight_ids}
    assert {i: b for i, b in seen.items() if b != "after the kill"} == expected
    assert not deleted & set(seen)
    # The killed node comes back as a follower of the new leader.
    cluster3.nodes[cluster3.nodes.index(leader)] = back = Node(cluster3.database, leader.port, cluster3.public_url, cluster3.dir)
    wait_for(lambda: back.role() == "follower", 15, "the restarted node follows", [back])
    assert client(back.url).get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "45"


def test_a_long_poll_on_one_node_wakes_on_a_send_through_another(cluster3):
    leader = cluster3.leader()
    follower_a, follower_b = cluster3.others(leader)
    url = client(leader.url).create_queue(QueueName="polled")["QueueUrl"]
    latencies = []
    for poller, sender in [(follower_a, follower_b), (leader, follower_a), (follower_b, leader)]:
        got = {}

        def poll():
            got["r"] = client(poller.url).receive_message(QueueUrl=url, WaitTimeSeconds=20)
            got["at"] = time.monotonic()

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)  # the poll is waiting at the leader
        sent_at = time.monotonic()
        client(sender.url).send_message(QueueUrl=url, MessageBody="wake")
        acked_at = time.monotonic()
        t.join(25)
        assert [m["Body"] for m in got["r"]["Messages"]] == ["wake"]
        latencies.append(got["at"] - sent_at)
        client(poller.url).delete_message(QueueUrl=url, ReceiptHandle=got["r"]["Messages"][0]["ReceiptHandle"])
        assert got["at"] - acked_at < 1.0
    print("long poll woken after the send began: " + ", ".join(f"{l * 1000:.0f} ms" for l in latencies))


def test_a_paused_leader_cannot_commit_after_another_node_took_over(cluster3):
    """SIGSTOP stands for a partition or a long pause: the lease expires, another node takes it,
    and what the old leader does when it wakes is refused by the fence — never acknowledged and
    lost."""
    old = cluster3.leader()
    url = client(old.url).create_queue(QueueName="fenced")["QueueUrl"]
    old.signal(signal.SIGSTOP)
    try:
        new = wait_for(lambda: next((n for n in cluster3.others(old) if n.role() == "leader"), None), 15,
                       "another node takes over", cluster3.nodes)
        client(new.url).send_message(QueueUrl=url, MessageBody="through the new leader")
        # A request sent to the paused leader waits in its socket until it wakes.
        answers = {}

        def send_to_old():
            try:
                answers["ok"] = client(old.url, read_timeout=30).send_message(QueueUrl=url, MessageBody="to the old leader")
            except Exception as e:  # noqa: BLE001 - any refusal is what we want to see
                answers["error"] = e

        t = threading.Thread(target=send_to_old)
        t.start()
        time.sleep(0.3)
    finally:
        old.signal(signal.SIGCONT)
    t.join(40)
    bodies = []
    new_client = client(new.url)
    for _ in range(5):
        bodies += [m["Body"] for m in new_client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]
    assert "through the new leader" in bodies
    if "ok" in answers:
        # Served after it stepped down (forwarded to the new leader): then it must be there.
        assert "to the old leader" in bodies, "an acknowledged send was lost"
    else:
        assert "to the old leader" not in bodies, "a refused send was kept"
    wait_for(lambda: old.role() == "follower", 10, "the old leader follows the new one", [old])
    # Which comes first on waking — its own check of its renewals, or a commit refused by the
    # fence — is a race; either way it stepped down (the fence itself: the PostgreSQL store's
    # test a_taken_lease_fences_the_old_holders_commits_and_its_recovery).
    assert "stepping down" in old.tail()


class CuttableProxy:
    """A TCP proxy in front of PostgreSQL that the test can cut (every connection closed, new
    ones refused) and restore: a node cut off from its database."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.open = True
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                c.close()
                continue
            try:
                u = socket.create_connection(self.target)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.open = False
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns.clear()

    def restore(self):
        self.open = True

    def close(self):
        self.cut()
        self.listener.close()


def test_a_node_cut_off_from_the_database_stops_serving_and_comes_back():
    database = fresh_database()
    parts = urllib.parse.urlsplit(database)
    proxy = CuttableProxy((parts.hostname, parts.port))
    through_proxy = urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    c = Cluster(1, database=through_proxy)
    node = c.nodes[0]
    try:
        sqs = client(node.url)
        url = sqs.create_queue(QueueName="cut")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="before the cut")
        proxy.cut()
        # Within the lease's ttl the node stops answering rather than serve what it cannot
        # make durable: /ready false, API calls 503 ServiceUnavailable.
        wait_for(lambda: node.role() == "waiting", LEASE_TTL + 3, "the cut-off node stops serving", [node])
        status, _ = urllib_status(f"{node.url}/ready")
        assert status == 503
        with pytest.raises(Exception) as refused:
            client(node.url, read_timeout=30).send_message(QueueUrl=url, MessageBody="during the cut")
        assert "ServiceUnavailable" in str(refused.value)
        proxy.restore()
        wait_for(lambda: node.role() == "leader", 20, "the node serves again", [node])
        bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]
        assert bodies == ["before the cut"]
    finally:
        c.stop()
        proxy.close()


def urllib_status(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_a_forged_forwarding_header_is_ignored_and_the_real_one_carries_the_client_address(cluster3):
    """Queue policies see the client's address through a forward; a client claiming another
    address with the forwarding headers is not believed without the cluster's token."""
    leader = cluster3.leader()
    sqs = client(leader.url)
    url = sqs.create_queue(QueueName="guarded")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": arn,
                       "Condition": {"IpAddress": {"aws:SourceIp": "198.51.100.7/32"}}}],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    token = subprocess.run(["psql", cluster3.database, "-Atc", "SELECT token FROM redrive.lease"],
                           check=True, capture_output=True, text=True).stdout.strip()
    body = json.dumps({"QueueUrl": url, "MessageBody": "x"}).encode()

    def send(node: Node, headers: dict) -> int:
        req = urllib.request.Request(node.url + "/", data=body, method="POST", headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage", **headers})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    forged = {"X-Redrive-Forwarded-For": "198.51.100.7:1234", "X-Redrive-Cluster-Token": "not-the-token"}
    follower = cluster3.others(leader)[0]
    assert send(leader, forged) == 200, "a forged client address was believed by the leader"
    assert send(follower, forged) == 200, "a forged client address was believed through a follower"
    real = {"X-Redrive-Forwarded-For": "198.51.100.7:1234", "X-Redrive-Cluster-Token": token}
    assert send(leader, real) == 403, "the forwarded client address did not reach the policy"
