"""`consent-sync demo --serve`: after the scenario the daemon keeps running and prints the
console's URL and a fresh write token; the console shows the demo's blocked re-grant, resolving
it there reaches the Salesforce sandbox, and Ctrl-C ends it cleanly."""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from support.paths import CONSENT_SYNC, REPO
from support.waiting import wait_for

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
pytestmark = pytest.mark.slow


def _sandbox_env(env_file: Path) -> dict[str, str]:
    pairs = (
        line.removeprefix("export ").split("=", 1) for line in env_file.read_text().split("\n")
    )
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def test_demo_serve_prints_the_console_and_a_token_that_resolves_the_blocked_regrant(
    tmp_path: Path,
) -> None:
    """Sign in with the printed token, find the blocked re-grant, resolve it, see Salesforce."""
    out = tmp_path / "demo.out"
    work = tmp_path / "demo"
    with out.open("wb") as sink:
        demo = subprocess.Popen(
            [str(CONSENT_SYNC), "demo", "--serve", "--contacts", "60", "--work-dir", str(work)],
            cwd=REPO,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "Serving until Ctrl-C." in out.read_text(), 240, "the demo to serve")
        text = out.read_text()
        url = re.search(r"(http://127\.0\.0\.1:\d+/console/)", text)
        conflict = re.search(r"blocked \(conflict #(\d+)\)", text)
        person = re.search(r"2\. (\S+) clicks 'unsubscribe'", text)
        tokens = [line for line in text.splitlines() if line.startswith("cst_")]
        assert url and conflict and person and len(tokens) == 1, text
        base, conflict_id, token = (
            url.group(1).removesuffix("/console/"),
            conflict.group(1),
            tokens[0],
        )
        with httpx.Client(base_url=base, timeout=30) as client:
            login = CSRF.search(client.get("/console/login").text)
            assert login is not None
            signed = client.post("/console/login", data={"token": token, "csrf": login.group(1)})
            assert signed.status_code == 303
            queue = client.get("/console/conflicts", params={"kind": "grant_blocked"})
            assert f'href="/console/conflicts/{conflict_id}"' in queue.text
            page = client.get(f"/console/conflicts/{conflict_id}")
            csrf = CSRF.search(page.text)
            assert csrf is not None and "Resolve as manual:demo-oncall" in page.text
            resolved = client.post(
                f"/console/conflicts/{conflict_id}/resolve",
                data={"csrf": csrf.group(1), "decision": "granted", "note": "confirmed by phone"},
            )
            assert resolved.status_code == 303, resolved.text
            shown = client.get(f"/console/conflicts/{conflict_id}").text
            assert "resolved by manual:demo-oncall" in shown
        env = _sandbox_env(work / "sandbox" / "env")
        trust = ssl.create_default_context(cafile=env["SALESFORCE_CA_FILE"])
        with httpx.Client(base_url=env["SALESFORCE_LOGIN_URL"], verify=trust) as salesforce:

            def unticked() -> bool:
                records = salesforce.get(
                    "/_sandbox/records", params={"email": person.group(1)}
                ).json()
                live = [r for r in records if not r["IsDeleted"]]
                return bool(live) and all(r["HasOptedOutOfEmail"] is False for r in live)

            wait_for(unticked, 30, "the resolution in the Salesforce sandbox")
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
