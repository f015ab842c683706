"""Every log line, ours and the libraries', hides secrets and names people only by a keyed
pseudonym (`<email:1a2b3c4d>`), stable within a deployment, so on-call can follow one person."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from consent_sync.logs import configure
from consent_sync.redaction import LOG_KEY_ENV, redact_text
from consent_sync_sandbox.runner import RunningSandbox
from consent_sync_sandbox.seed import iter_people
from support.paths import CONSENT_SYNC, REPO
from support.sandboxes import sandbox, sandbox_control

__all__ = ["sandbox"]

CONTACTS = 120
SANDBOX_SEED = 7
PSEUDONYM = re.compile(r"<email:[0-9a-f]{8}>")


@pytest.fixture(autouse=True)
def _default_logging_afterwards() -> Iterator[None]:
    """Each test configures logging; the next test starts from the defaults again."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
    root.setLevel(level)


def _json_lines(err: str) -> list[dict[str, Any]]:
    lines = []
    for line in err.splitlines():
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return lines


def test_one_address_gets_one_pseudonym_however_it_is_spelt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Case, surrounding text and URL-encoding do not change an address's pseudonym; another
    address gets another one; another deployment's key gives another one."""
    monkeypatch.setenv(LOG_KEY_ENV, "deployment-one")
    configure("INFO", json=True)
    plain = redact_text("ada@example.com")
    assert PSEUDONYM.fullmatch(plain)
    assert redact_text("refused Ada@Example.COM today") == f"refused {plain} today"
    assert redact_text("GET /contacts?email=ada%40example.com&limit=1") == (
        f"GET /contacts?email={plain}&limit=1"
    )
    assert redact_text("unexpected token: 'ada@example.com'") == f"unexpected token: {plain}'"
    assert redact_text("grace@example.com") != plain
    monkeypatch.setenv(LOG_KEY_ENV, "deployment-two")
    configure("INFO", json=True)
    assert redact_text("ada@example.com") != plain


def test_secret_values_bearer_tokens_and_url_credentials_are_hidden_anywhere(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A secret-named variable's value, a bearer token and a URL's password never reach a line,
    under any key and inside any message."""
    monkeypatch.setenv("ACME_CLIENT_SECRET", "pa55-w0rd-9000")
    configure("INFO", json=True)
    structlog.get_logger("t").warning(
        "request failed",
        detail="sent pa55-w0rd-9000 to https://svc:hunter22@db.example.net/x",
        headers={"X-Auth": "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig"},
    )
    err = capsys.readouterr().err
    for leaked in ("pa55-w0rd-9000", "hunter22", "eyJhbGciOiJIUzI1NiJ9"):
        assert leaked not in err
    (line,) = _json_lines(err)
    assert line["detail"].startswith("sent *** to https://***@")
    assert line["headers"]["X-Auth"] == "Bearer ***"


def test_a_library_debug_line_goes_through_the_same_redaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """At DEBUG, urllib3's request lines (URLs with an email in the query) become our JSON
    lines, the address pseudonymised; at INFO they are not written at all."""
    configure("DEBUG", json=True)
    logging.getLogger("urllib3.connectionpool").debug(
        '%s "GET /query?q=%s HTTP/1.1" 200', "https://crm:443", "bob%40example.org"
    )
    (line,) = _json_lines(capsys.readouterr().err)
    assert (line["logger"], line["level"]) == ("urllib3.connectionpool", "debug")
    assert "bob" not in line["event"] and PSEUDONYM.search(line["event"])
    configure("INFO", json=True)
    logging.getLogger("urllib3.connectionpool").debug("quiet at INFO")
    assert capsys.readouterr().err == ""


def test_an_exception_that_ends_a_thread_is_one_json_line_with_its_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A thread dying of an uncaught bug logs one line: the thread, the error, its frames."""
    configure("INFO", json=True)

    def work() -> None:
        raise RuntimeError("thread broke for eve@example.com")

    worker = threading.Thread(target=work, name="pusher")
    worker.start()
    worker.join()
    (line,) = [
        line for line in _json_lines(capsys.readouterr().err) if line["event"] == "thread failed"
    ]
    assert line["thread"] == "pusher"
    assert line["level"] == "error"
    (stack,) = line["exception"]
    assert stack["exc_type"] == "RuntimeError"
    assert stack["frames"][-1]["name"] == "work"
    assert "eve@example.com" not in json.dumps(line)


def _sync(sandbox: RunningSandbox, database: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **sandbox.env, "CONSENT_SYNC_DATABASE_URL": database}
    env["CONSENT_SYNC_CONFIG"] = str(REPO)
    env.pop(LOG_KEY_ENV, None)  # the key derived from the database URL: stable per deployment
    return subprocess.run(
        [CONSENT_SYNC, "--log-level", "DEBUG", "sync"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_full_sync_at_debug_logs_no_email_or_secret_and_one_pseudonym_per_person(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """Two syncs at DEBUG (every library's request lines included), the second while Salesforce
    refuses its query naming a seeded person: no seeded email and no credential appears in
    anything written, and that person has the same pseudonym in every line about them."""
    database = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**os.environ, "CONSENT_SYNC_DATABASE_URL": database}
    subprocess.run([CONSENT_SYNC, "db", "upgrade"], env=env, check=True, capture_output=True)
    emails = {
        person.email
        for system in ("salesforce", "hubspot", "mailchimp", "dynamics")
        for person in iter_people(system, CONTACTS, SANDBOX_SEED, 0.8)
    }
    named = sorted(emails)[0]
    secrets = [
        value
        for name, value in sandbox.env.items()
        if re.search("SECRET|TOKEN|PASSWORD|API_KEY", name) and not name.endswith("_URL") and value
    ]
    assert secrets, "the sandbox hands out credentials"
    first = _sync(sandbox, database)
    assert first.returncode == 0, first.stderr
    refusal = [{"errorCode": "MALFORMED_QUERY", "message": f"unexpected token: '{named}'"}]
    with sandbox_control(sandbox, "salesforce") as salesforce:
        rule = {"path": r"/query", "status": 400, "body": refusal}
        salesforce.put("/_sandbox/faults", json={"rules": [rule]}).raise_for_status()
    try:
        refused = [_sync(sandbox, database), _sync(sandbox, database)]
    finally:
        with sandbox_control(sandbox, "salesforce") as salesforce:
            salesforce.put("/_sandbox/faults", json={}).raise_for_status()
    written = "\n".join(done.stdout + done.stderr for done in (first, *refused))
    lines = _json_lines("\n".join(done.stderr for done in (first, *refused)))
    assert len(lines) > 50, "DEBUG logs every request: this many lines were expected"
    assert {line.get("logger") for line in lines} & {"urllib3.connectionpool", "httpx"}
    leaked = sorted(e for e in emails if e.lower() in written.lower())
    assert leaked == []
    assert not [s for s in secrets if s in written]
    about_them = [
        PSEUDONYM.findall(json.dumps(line))
        for line in lines
        if "MALFORMED_QUERY" in json.dumps(line)
    ]
    assert len(about_them) >= 2, "each refused sync logs the refusal"
    assert len({pseudonym for found in about_them for pseudonym in found}) == 1
