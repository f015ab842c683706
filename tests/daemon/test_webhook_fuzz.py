"""2,000 hostile webhook requests against a real `consent-sync run`: random headers, bodies,
nesting and ids, some signed with the real secret, a few trickled or abandoned bodies. No answer
is a 5xx, the log holds no traceback, and the server's memory stays flat."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent_sync.store import Store
from consent_sync_sandbox.hubspot.webhooks import sign_v3
from support.daemon import Daemon, Harness
from support.waiting import wait_for

CONTACTS = 20
PULL_INTERVAL = "300"
REQUESTS = 2000
WARM_UP = 300
CLIENTS = 8
SEED = 20261201
RSS_GROWTH_LIMIT_KIB = 24 * 1024  # a leak of 12 KiB a request would pass it
HOSTILE_DIGITS = ["²", "٣", "\uff11\uff12", "1²", "-1", " 5", "0x10", "1e3", "", "+7", "5 ", "١٢٣٤"]
TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def daemon(harness: Harness) -> Iterator[Daemon]:
    """One ready daemon on a 300 s pull interval, its first backfill done."""
    started = harness.daemon("--pull-interval", PULL_INTERVAL)
    started.wait_ready()
    with Store.open(harness.database_url) as store:
        wait_for(lambda: any(r.finished_at for r in store.views.recent_runs(limit=5)), 60, "a run")
    yield started
    assert started.terminate() == 0


def rss_kib(pid: int) -> int:
    """The resident set size of process `pid`, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Hostile:
    """Random hostile webhook requests, reproducible from a seed."""

    def __init__(self, rng: random.Random, secret: str, url: str) -> None:
        self.rng = rng
        self.secret = secret
        self.url = url

    def an_id(self) -> Any:
        return self.rng.choice(
            [
                self.rng.randint(1, 10**9),
                str(self.rng.randint(1, 10**9)),
                self.rng.choice(HOSTILE_DIGITS),
                10 ** self.rng.randint(30, 60),
                -self.rng.randint(1, 100),
                self.rng.random(),
                None,
                True,
                [1],
                {"id": 1},
                "9" * self.rng.randint(31, 6000),
            ]
        )

    def nested(self) -> str:
        depth = self.rng.choice([10, 1000, 10_000, 100_000, 400_000])
        opener = self.rng.choice(["[", '{"a":', '[{"objectId":'])
        closed = self.rng.random() < 0.5
        return opener * depth + ("1" + "]" * depth if closed and opener == "[" else "")

    def events(self) -> str:
        events = []
        for _ in range(self.rng.randint(0, 20)):
            event: dict[str, Any] = {
                "eventId": self.an_id() if self.rng.random() < 0.5 else self.rng.randint(1, 10**6),
                "subscriptionType": self.rng.choice(
                    ["contact.creation", "contact.propertyChange", "contact.deletion", "x" * 500]
                ),
                "objectId": self.an_id(),
            }
            if self.rng.random() < 0.2:
                del event[self.rng.choice(list(event))]
            events.append(event)
        return json.dumps(events)

    def body(self) -> str:
        kind = self.rng.random()
        if kind < 0.35:
            return self.events()
        if kind < 0.55:
            return self.nested()
        if kind < 0.7:
            return "".join(
                chr(self.rng.randint(0, 0x2FFF)) for _ in range(self.rng.randint(0, 300))
            )
        if kind < 0.8:
            number = "7" * self.rng.randint(4000, 20_000)
            return f'[{{"subscriptionType": "contact.creation", "objectId": {number}}}]'
        return json.dumps(self.rng.choice([{}, [], None, "[]", [[]], [{}], 1, [1] * 2000]))

    def headers(self, body: bytes) -> dict[str, bytes]:
        headers: dict[str, bytes] = {}
        if self.rng.random() < 0.4:  # signed with the real secret: the body must be parsed
            timestamp = str(time.time_ns() // 1_000_000)
            signature = sign_v3(self.secret, "POST", self.url, body.decode(), timestamp)
            headers["X-HubSpot-Signature-v3"] = signature.encode()
            headers["X-HubSpot-Request-Timestamp"] = timestamp.encode()
        else:
            stamp = self.rng.choice([*HOSTILE_DIGITS, "9" * 5000, str(time.time_ns() // 10**6)])
            headers["X-HubSpot-Request-Timestamp"] = stamp.encode("utf-8")
            length = self.rng.choice([0, 1, 44, 45, 5000])
            garbage = bytes(self.rng.randint(0x20, 0xFF) for _ in range(length))
            headers["X-HubSpot-Signature-v3"] = garbage.replace(b"\x7f", b"x")
        for _ in range(self.rng.randint(0, 5)):
            name = "".join(self.rng.choice(TOKEN_CHARS) for _ in range(self.rng.randint(1, 30)))
            headers[f"x-{name}"] = bytes(
                self.rng.randint(0x20, 0x7E) for _ in range(self.rng.randint(0, 200))
            )
        if self.rng.random() < 0.1:
            headers["X-Forwarded-Proto"] = self.rng.choice([b"https", b"gopher", b"\xb2"])
        if self.rng.random() < 0.05:
            headers["Host"] = self.rng.choice([b"[", b"[::1", b"evil.example", b"a:99999", b"\xe4"])
        # What HTTP/1.1 can carry at all: no value with surrounding whitespace.
        return {name: value.strip(b" \t") for name, value in headers.items()}

    def request(self) -> tuple[str, str, bytes, dict[str, bytes]]:
        body = self.body().encode("utf-8", "surrogatepass")
        path = "/webhooks/hubspot"
        if self.rng.random() < 0.05:
            path = self.rng.choice(["/webhooks/salesforce", "/webhooks/%C2%B2", "/webhooks/"])
        method = "POST" if self.rng.random() < 0.97 else self.rng.choice(["PUT", "GET", "DELETE"])
        return method, path, body, self.headers(body)


def slow_uploads(daemon: Daemon, secret: str, results: list[int], pause: threading.Event) -> None:
    """A few signed bodies trickled in slowly (finished in time) and a few abandoned halfway."""
    body = b'[{"subscriptionType": "contact.creation", "objectId": 1}]'
    for index in range(6):
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
            timestamp = str(time.time_ns() // 1_000_000)
            url = daemon.url("/webhooks/hubspot")
            signature = sign_v3(secret, "POST", url, body.decode(), timestamp)
            sock.sendall(
                f"POST /webhooks/hubspot HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\n"
                f"X-HubSpot-Signature-v3: {signature}\r\n"
                f"X-HubSpot-Request-Timestamp: {timestamp}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            for byte in body[: len(body) // 2]:
                sock.sendall(bytes([byte]))
                pause.wait(0.02)
            if index % 2:
                continue  # abandoned: the client goes away mid-body
            sock.sendall(body[len(body) // 2 :])
            results.append(int(sock.recv(4096).split(b" ", 2)[1]))


def flood(daemon: Daemon, hostile: Hostile, count: int) -> list[int]:
    """Send `count` hostile requests from `CLIENTS` threads; their statuses."""
    local = threading.local()
    requests = [hostile.request() for _ in range(count)]

    def send(request: tuple[str, str, bytes, dict[str, bytes]]) -> int:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=daemon.url(""), timeout=30)
        method, path, body, headers = request
        return int(local.client.request(method, path, content=body, headers=headers).status_code)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(send, requests))


def test_two_thousand_hostile_webhooks_get_no_5xx_and_memory_stays_flat(
    harness: Harness, daemon: Daemon
) -> None:
    """No 5xx, no traceback in the log, RSS after 2,000 requests within 24 MiB of before."""
    secret = harness.sandbox.env["HUBSPOT_CLIENT_SECRET"]
    hostile = Hostile(random.Random(SEED), secret, daemon.url("/webhooks/hubspot"))
    warm = flood(daemon, hostile, WARM_UP)
    before = rss_kib(daemon.pid)
    slow: list[int] = []
    trickler = threading.Thread(target=slow_uploads, args=(daemon, secret, slow, threading.Event()))
    trickler.start()
    statuses = flood(daemon, hostile, REQUESTS)
    trickler.join()
    after = rss_kib(daemon.pid)
    print(f"\nRSS before {before} KiB, after {REQUESTS} hostile requests {after} KiB")
    print(f"statuses: { {s: statuses.count(s) for s in sorted(set(statuses))} }")
    assert all(status < 500 for status in warm + statuses + slow)
    assert slow == [204, 204, 204]  # the trickled bodies that finished were taken
    assert {400, 401, 204} <= set(statuses)  # every path was exercised: refused, parsed, queued
    text = daemon.log_path.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text and '"exception"' not in text, daemon.tail(60)
    assert after - before < RSS_GROWTH_LIMIT_KIB
