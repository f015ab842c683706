"""The HTTP edge of a real `consent-sync run`, attacked over real sockets: hostile headers and
ids are 4xx with a JSON error, trickled bodies and idle connections are cut off, the connection
count is capped, aborted uploads are one quiet line, and no redirect names the claimed Host."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from consent_sync.daemon.http.edge import MAX_CONNECTIONS
from consent_sync_sandbox.hubspot.webhooks import sign_v3
from support.daemon import Daemon, Harness
from support.waiting import wait_for

CONTACTS = 20
PULL_INTERVAL = "300"
LINE_LIMIT = 30.0  # seconds a socket read may block: a bound on a hung test, not an assertion


@pytest.fixture
def daemon(harness: Harness) -> Iterator[Daemon]:
    """One ready daemon on a 300 s pull interval."""
    started = harness.daemon("--pull-interval", PULL_INTERVAL)
    started.wait_ready()
    yield started
    assert started.terminate() == 0


def log_text(daemon: Daemon) -> str:
    return daemon.log_path.read_text(encoding="utf-8", errors="replace")


def assert_no_traceback(daemon: Daemon) -> None:
    """Neither a plain traceback nor a structured one (`exception`) nor uvicorn's ASGI error."""
    text = log_text(daemon)
    for marker in ("Traceback", '"exception"', "Exception in ASGI", "Internal Server Error"):
        assert marker not in text, daemon.tail(60)


def signed_headers(harness: Harness, daemon: Daemon, body: bytes) -> dict[str, str]:
    secret = harness.sandbox.env["HUBSPOT_CLIENT_SECRET"]
    timestamp = str(time.time_ns() // 1_000_000)
    url = daemon.url("/webhooks/hubspot")
    return {
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body.decode(), timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def connect(daemon: Daemon) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=LINE_LIMIT)
    return sock


def status_of(sock: socket.socket) -> int | None:
    """The status of the response on `sock`, or None if the server closed it without one."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        data += chunk
    return int(data.split(b" ", 2)[1])


def start_upload(daemon: Daemon, declared: int = 100_000) -> socket.socket:
    """A webhook POST that declares `declared` body bytes and sends only a few of them."""
    sock = connect(daemon)
    sock.sendall(
        b"POST /webhooks/hubspot HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {declared}\r\n\r\n[".encode()
    )
    return sock


def test_hostile_timestamp_headers_are_401_json_and_log_no_traceback(
    harness: Harness, daemon: Daemon
) -> None:
    """`X-HubSpot-Request-Timestamp: ²` or 5,000 digits without a valid signature: 401, JSON."""
    events = json.dumps([{"subscriptionType": "contact.creation", "objectId": 1}]).encode()
    for timestamp in ("²".encode("latin-1"), b"9" * 5000, "٣".encode()):
        response = httpx.post(
            daemon.url("/webhooks/hubspot"),
            content=events,
            headers={"X-HubSpot-Request-Timestamp": timestamp, "X-HubSpot-Signature-v3": b"x"},
        )
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
    assert_no_traceback(daemon)


def test_signed_hostile_ids_and_deep_nesting_are_400(harness: Harness, daemon: Daemon) -> None:
    """A correctly signed `objectId: "²"` or 100,000 nested `[`: 400 with a JSON error."""
    for body in (
        json.dumps([{"subscriptionType": "contact.creation", "objectId": "²"}]).encode(),
        b"[" * 100_000,
        b'[{"subscriptionType": "contact.creation", "objectId": ' + b"9" * 5000 + b"}]",
    ):
        response = httpx.post(
            daemon.url("/webhooks/hubspot"),
            content=body,
            headers=signed_headers(harness, daemon, body),
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "malformed_webhook"
    assert_no_traceback(daemon)


@pytest.mark.parametrize("path", ["/healthz/", "/readyz/", "/metrics/", "/api/v1/subjects/"])
def test_no_redirect_is_built_from_the_host_header(daemon: Daemon, path: str) -> None:
    """`/healthz/` with `Host: evil.example` is a JSON 404, not a redirect to evil.example."""
    response = httpx.get(daemon.url(path), headers={"Host": "evil.example"}, follow_redirects=False)
    assert "evil.example" not in response.headers.get("location", "")
    assert response.status_code in (401, 404)
    assert response.json()["code"] in ("not_found", "unauthorized")


def test_trickled_bodies_are_cut_off_and_connections_capped(daemon: Daemon) -> None:
    """Past the cap new requests are 503 at once; the rest get 408 once the body deadline passes,
    each a single log line; afterwards the daemon serves again."""
    # uvicorn counts connections when it parses a request's headers: were all 250 accepted
    # before any headers were read (a busy daemon), every one would be past the cap. So most of
    # the cap first, then a request answered on a new connection (the loop has read the
    # uploads' headers by then), then past the cap.
    uploads = [start_upload(daemon) for _ in range(MAX_CONNECTIONS - 50)]
    try:
        assert daemon.get("/healthz").status_code == 200
        uploads += [start_upload(daemon) for _ in range(100)]
        statuses = [status_of(sock) for sock in uploads]
    finally:
        for sock in uploads:
            sock.close()
    assert set(statuses) <= {408, 503}, statuses
    assert statuses.count(503) >= 50 and statuses.count(408) >= 1
    wait_for(lambda: daemon.get("/healthz").status_code == 200, 30, "/healthz to answer 200")
    slow_lines = log_text(daemon).count("request body too slow")
    assert slow_lines == statuses.count(408)
    assert_no_traceback(daemon)


def test_aborted_uploads_are_one_quiet_line_each(daemon: Daemon) -> None:
    """Clients that go away mid-body leave one info line each, never a traceback."""
    uploads = [start_upload(daemon) for _ in range(20)]
    # One event loop serves every connection: once this answers, it has read the uploads' headers.
    assert daemon.get("/healthz").status_code == 200
    for sock in uploads:
        sock.close()

    def logged() -> bool:
        return log_text(daemon).count("client disconnected") >= 20

    wait_for(logged, 30, "20 disconnect lines")
    lines = [line for line in log_text(daemon).splitlines() if "client disconnected" in line]
    assert len(lines) == 20
    assert all(json.loads(line)["level"] == "info" for line in lines)
    assert_no_traceback(daemon)


def test_a_connection_that_sends_nothing_is_closed(daemon: Daemon) -> None:
    """An idle connection (or one trickling its headers) is closed by the server."""
    idle = connect(daemon)
    trickling = connect(daemon)
    trickling.sendall(b"POST /webhooks/hubspot HTTP/1.1\r\nHost: x\r\n")
    try:
        assert status_of(idle) is None
        assert status_of(trickling) is None
    finally:
        idle.close()
        trickling.close()
    assert daemon.get("/healthz").status_code == 200
