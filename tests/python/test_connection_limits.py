"""Connection limits (issue 21 item 3; docs/security.md, "Limits"): how many connections are open
at once, how many headers a request may carry, how long a connection may idle or dribble its
request's head, and the defaults holding 10,000 idle connections.

Each test starts its own server with the limit it checks.
"""

from __future__ import annotations

import resource
import socket
import time

import pytest

from conftest import ServerProcess

pytestmark = pytest.mark.single_node("each test starts a server of its own with its own limits")

def list_queues_request() -> bytes:
    body = b"Action=ListQueues&Version=2012-11-05"
    return (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """One HTTP response's head and body (Content-Length framed), or what arrived in time."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), 0
        )
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body
    except socket.timeout:
        return data


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_connections_beyond_the_limit_wait_and_those_open_keep_working(tmp_path):
    server = ServerProcess(["--max-connections", "2"], log_dir=tmp_path).start()
    try:
        a, b = connect(server.port), connect(server.port)
        for s in (a, b):
            s.sendall(list_queues_request())
            assert read_response(s, 5).startswith(b"HTTP/1.1 200")
        # A third connection is made (the kernel's backlog takes it) but not served while two
        # are open.
        c = connect(server.port)
        c.sendall(list_queues_request())
        assert read_response(c, 1.0) == b""
        # The two open ones keep working meanwhile.
        b.sendall(list_queues_request())
        assert read_response(b, 5).startswith(b"HTTP/1.1 200")
        # One closes: the waiting one is served.
        a.close()
        assert read_response(c, 5).startswith(b"HTTP/1.1 200")
        for s in (b, c):
            s.close()
    finally:
        server.stop()


def test_a_request_with_too_many_headers_is_answered_431(tmp_path):
    server = ServerProcess(["--max-headers", "20"], log_dir=tmp_path).start()
    try:
        def with_headers(n: int) -> bytes:
            extra = b"".join(f"X-Extra-{i}: v\r\n".encode() for i in range(n))
            return list_queues_request().replace(b"Host: x\r\n", b"Host: x\r\n" + extra, 1)

        s = connect(server.port)
        s.sendall(with_headers(10))
        assert read_response(s, 5).startswith(b"HTTP/1.1 200")
        s.close()
        s = connect(server.port)
        s.sendall(with_headers(30))
        assert read_response(s, 5).startswith(b"HTTP/1.1 431")
        s.close()
    finally:
        server.stop()


def test_the_default_header_limit_is_100(tmp_path):
    server = ServerProcess([], log_dir=tmp_path).start()
    try:
        extra = b"".join(f"X-Extra-{i}: v\r\n".encode() for i in range(120))
        s = connect(server.port)
        s.sendall(list_queues_request().replace(b"Host: x\r\n", b"Host: x\r\n" + extra, 1))
        assert read_response(s, 5).startswith(b"HTTP/1.1 431")
        s.close()
    finally:
        server.stop()


def test_a_client_sending_its_request_a_byte_at_a_time_is_cut_off(tmp_path):
    server = ServerProcess(["--idle-timeout", "2"], log_dir=tmp_path).start()
    try:
        s = connect(server.port)
        started = time.monotonic()
        closed_after = None
        for byte in list_queues_request():
            try:
                s.sendall(bytes([byte]))
            except OSError:
                closed_after = time.monotonic() - started
                break
            s.settimeout(0.25)
            try:
                if s.recv(1024) == b"":
                    closed_after = time.monotonic() - started
                    break
            except socket.timeout:
                pass
            if time.monotonic() - started > 10:
                break
        assert closed_after is not None, "the dribbling client was never cut off"
        assert 1.5 <= closed_after <= 5, f"cut off after {closed_after:.1f} s with a 2 s limit"
        s.close()
        # A client that sends its request at once is served as usual.
        s = connect(server.port)
        s.sendall(list_queues_request())
        assert read_response(s, 5).startswith(b"HTTP/1.1 200")
        s.close()
    finally:
        server.stop()


def test_the_defaults_hold_ten_thousand_idle_connections(tmp_path):
    want = 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want + 200:
        pytest.skip(f"this machine allows {hard} open files per process; the test needs {want + 200}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want + 200), hard))
    server = ServerProcess([], log_dir=tmp_path).start()
    sockets = []
    try:
        for _ in range(want):
            sockets.append(connect(server.port))
        time.sleep(0.5)
        # All of them open, and a request on a new connection and on the oldest one is served.
        s = connect(server.port)
        s.sendall(list_queues_request())
        assert read_response(s, 10).startswith(b"HTTP/1.1 200")
        s.close()
        sockets[0].sendall(list_queues_request())
        assert read_response(sockets[0], 10).startswith(b"HTTP/1.1 200")
        rss_kib = int(next(l for l in open(f"/proc/{server.proc.pid}/status") if l.startswith("VmRSS")).split()[1])
        print(f"{want} idle connections: server RSS {rss_kib / 1024:.0f} MiB")
        assert rss_kib < 512 * 1024
    finally:
        for s in sockets:
            s.close()
        server.stop()
