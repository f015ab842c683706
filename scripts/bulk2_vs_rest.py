"""Download every seeded Salesforce contact through Bulk API 2.0 and through REST, side by side.

Runs `consent-sync sandbox --contacts N` as its own process, then each client in a fresh child
process (so its peak RSS is its own): REST `query_all` (the whole list in memory), REST
`query_all_iter` (streamed), simple-salesforce's `bulk2.Contact.query` (CSV pages parsed and
dropped) and `bulk2.Contact.download` (CSV pages written to files). Prints time, records/s,
the client's peak RSS, the API calls the sandbox counted, and the server's RSS after each.
"bulk2-one-row-job" is what creating and polling a job costs alone: simple-salesforce sleeps
`wait` (1 s here) before its first poll and again between polls, and the emulator's first poll
always says InProgress.

    .venv/bin/python scripts/bulk2_vs_rest.py --contacts 100000
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import requests
from simple_salesforce import Salesforce

SOQL = (
    "SELECT Id, FirstName, LastName, Email, Phone, HasOptedOutOfEmail, DoNotCall, "
    "HasOptedOutOfFax, SMS_Consent__c, SystemModstamp FROM Contact"
)
CLIENTS = (
    "rest-query_all",
    "rest-query_all_iter",
    "bulk2-one-row-job",
    "bulk2-query",
    "bulk2-download",
)


def _rss_mb(pid: int | str) -> tuple[float, float]:
    """(current, peak) resident set size of a process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    current = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return current / 1024, peak / 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.removeprefix("export ").replace("'", "").split("=", 1) for line in lines)


def _client(env: dict[str, str]) -> Salesforce:
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
    return Salesforce(instance_url=env["SALESFORCE_LOGIN_URL"], session_id=token, session=session)


def _api_calls(control: httpx.Client) -> int:
    """Versioned API requests the sandbox counted since its stats were reset."""
    endpoints = control.get("/_sandbox/stats").json()["endpoints"]
    return sum(
        sum(by_status.values())
        for name, by_status in endpoints.items()
        if " /services/data/v" in name
    )


def _run_client(kind: str, env_file: Path, max_records: int) -> None:
    """Child process: download every contact one way, print one JSON line of figures."""
    sf = _client(_env(env_file))
    started = time.perf_counter()
    if kind == "rest-query_all":
        count = len(sf.query_all(SOQL)["records"])
    elif kind == "rest-query_all_iter":
        count = sum(1 for _ in sf.query_all_iter(SOQL))
    elif kind == "bulk2-one-row-job":  # what creating and polling a job costs alone
        pages = sf.bulk2.Contact.query(SOQL + " LIMIT 1", wait=1)
        count = sum(sum(1 for _ in csv.DictReader(io.StringIO(page))) for page in pages)
    elif kind == "bulk2-query":
        pages = sf.bulk2.Contact.query(SOQL, max_records=max_records, wait=1)
        count = sum(sum(1 for _ in csv.DictReader(io.StringIO(page))) for page in pages)
    else:
        with tempfile.TemporaryDirectory() as folder:
            results = sf.bulk2.Contact.download(SOQL, path=folder, max_records=max_records, wait=1)
            count = sum(int(r["number_of_records"]) for r in results)
    elapsed = time.perf_counter() - started
    peak = _rss_mb("self")[1]
    figures = {"kind": kind, "records": count, "seconds": elapsed, "peak_mib": peak}
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--max-records", type=int, default=50_000, help="bulk2 page size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client (median)")
    parser.add_argument("--client", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--env-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        _run_client(args.client, args.env_file, args.max_records)
        return
    state = Path(tempfile.mkdtemp(prefix="bulk2-vs-rest-"))
    command = [
        str(Path(sys.executable).parent / "consent-sync"),
        "sandbox",
        f"--contacts={args.contacts}",
        f"--state-dir={state}",
        f"--salesforce-port={_free_port()}",
        f"--hubspot-port={_free_port()}",
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603 - fixed argv
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if line.startswith("serving"):
                break
        env = _env(state / "env")
        control = httpx.Client(
            base_url=env["SALESFORCE_LOGIN_URL"],
            verify=ssl.create_default_context(cafile=env["SALESFORCE_CA_FILE"]),
        )
        print(f"sandbox server RSS after seeding: {_rss_mb(server.pid)[0]:.0f} MiB")
        print(
            f"{'client':<22}{'records':>9}{'seconds':>9}{'records/s':>11}{'peak RSS':>10}"
            f"{'calls':>7}   (median of {args.repeat} runs; peak RSS: the largest)"
        )
        for kind in CLIENTS:
            child = [sys.executable, __file__, f"--client={kind}", f"--env-file={state / 'env'}"]
            child.append(f"--max-records={args.max_records}")
            runs = []
            for _ in range(args.repeat):
                control.delete("/_sandbox/stats").raise_for_status()
                out = subprocess.run(child, capture_output=True, text=True, check=True)  # noqa: S603
                run = json.loads(out.stdout.strip().splitlines()[-1])
                run["calls"] = _api_calls(control)
                runs.append(run)
            seconds = statistics.median(r["seconds"] for r in runs)
            peak = max(r["peak_mib"] for r in runs)
            records = runs[0]["records"]
            calls = statistics.median(r["calls"] for r in runs)
            server_now, server_peak = _rss_mb(server.pid)
            print(
                f"{kind:<22}{records:>9}{seconds:>9.2f}{records / seconds:>11,.0f}"
                f"{peak:>7.0f} MiB{calls:>7.0f}   (server RSS {server_now:.0f}, "
                f"peak {server_peak:.0f} MiB)"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
