"""Measure the Salesforce emulator at scale: seeding time, server RSS, bare-client paging time.

Runs `consent-sync sandbox --contacts N` as its own process (as users run it), then pages through
every contact with simple-salesforce's query_all_iter, as the benchmark's ceiling does.

    .venv/bin/python scripts/sandbox_scale.py --contacts 1000000
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import requests
from simple_salesforce import Salesforce, format_soql

from consent_sync_sandbox.salesforce import build_salesforce

FIELDS = "Id, Email, HasOptedOutOfEmail, DoNotCall, SMS_Consent__c, SystemModstamp"
PULL = "SELECT {:literal} FROM Contact WHERE SystemModstamp >= {} ORDER BY SystemModstamp, Id"


def _seed_alone(contacts: int) -> None:
    """Seed the Salesforce emulator alone in this process: time and RSS it adds."""
    before = _rss_mb(os.getpid())[0]
    started = time.perf_counter()
    emulator = build_salesforce(contacts)
    elapsed = time.perf_counter() - started
    after, peak = _rss_mb(os.getpid())
    print(
        f"salesforce alone: {contacts} contacts seeded in {elapsed:.1f}s; "
        f"RSS +{after - before:.0f} MiB (process {after:.0f} MiB, peak {peak:.0f} MiB)"
    )
    del emulator


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    current = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return current / 1024, peak / 1024


def _env(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.removeprefix("export ").replace("'", "").split("=", 1) for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    args = parser.parse_args()
    _seed_alone(args.contacts)
    state = Path(tempfile.mkdtemp(prefix="sandbox-scale-"))
    command = [
        str(Path(sys.executable).parent / "consent-sync"),
        "sandbox",
        f"--contacts={args.contacts}",
        f"--state-dir={state}",
        f"--salesforce-port={_free_port()}",
        f"--hubspot-port={_free_port()}",
    ]
    started = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603 - fixed argv
    try:
        assert server.stdout is not None
        for line in server.stdout:
            print("sandbox |", line.rstrip())
            if line.startswith("serving"):
                break
        print(f"sandbox ready after {time.perf_counter() - started:.1f}s (both emulators)")
        print("server RSS after seeding: {:.0f} MiB (peak {:.0f} MiB)".format(*_rss_mb(server.pid)))
        env = _env(state / "env")
        token = httpx.post(
            f"{env['SALESFORCE_LOGIN_URL']}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": env["SALESFORCE_CLIENT_ID"],
                "client_secret": env["SALESFORCE_CLIENT_SECRET"],
            },
            verify=ssl.create_default_context(cafile=env["SALESFORCE_CA_FILE"]),
        ).json()["access_token"]
        session = requests.Session()
        session.verify, session.trust_env = env["SALESFORCE_CA_FILE"], False
        sf = Salesforce(instance_url=env["SALESFORCE_LOGIN_URL"], session_id=token, session=session)
        since = datetime.now(UTC) - timedelta(days=365)
        paged = time.perf_counter()
        count = sum(1 for _ in sf.query_all_iter(format_soql(PULL, FIELDS, since)))
        elapsed = time.perf_counter() - paged
        print(f"query_all_iter: {count} records in {elapsed:.1f}s ({count / elapsed:,.0f}/s)")
        recent = format_soql(PULL, FIELDS, datetime.now(UTC) - timedelta(minutes=5))
        incremental = time.perf_counter()
        recent_count = len(sf.query_all(recent)["records"])
        print(
            f"incremental query (last 5 min, {recent_count} records): "
            f"{(time.perf_counter() - incremental) * 1000:.0f} ms"
        )
        print("server RSS after paging: {:.0f} MiB (peak {:.0f} MiB)".format(*_rss_mb(server.pid)))
        session.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
