"""`consent-sync demo`: the README's first command plays the whole scenario and exits 0.

The four-system scenario runs in-process on one stage, so each step is checked in the emulators'
own state (their inspection endpoints), not only in what the demo printed; the two-system
subset and an unknown `--systems` name run through the command itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from consent_sync.domain.model import ConflictKind
from consent_sync_sandbox.demo import DemoResult, run_demo
from consent_sync_sandbox.stage import Stage, SystemsError, choose_systems, staged
from support.paths import CONSENT_SYNC, REPO
from support.sandboxes import MARKETING

CONTACTS = 120  # per sandbox: enough people who may be mailed everywhere, quick to settle
FOUR = ("salesforce", "hubspot", "mailchimp", "dynamics")


@dataclass
class Played:
    stage: Stage
    result: DemoResult
    out: str


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    """The default demo (every system the shipped config enables), played once, stage kept up."""
    cast = choose_systems(REPO)
    lines: list[str] = []
    with staged(tmp_path_factory.mktemp("demo"), CONTACTS, REPO, cast.systems) as stage:
        result = run_demo(stage, lines.append)
        yield Played(stage, result, "\n".join(lines))


def _get(played: Played, system: str, path: str, email: str) -> Any:
    with played.stage.control(system) as client:
        response = client.get(path, params={"email": email})
        response.raise_for_status()
        return response.json()


def _sf_ticked(played: Played, email: str) -> list[bool]:
    records = _get(played, "salesforce", "/_sandbox/records", email)
    return [r["HasOptedOutOfEmail"] for r in records if not r["IsDeleted"]]


def _hubspot_marketing(played: Played, email: str) -> str:
    contact = _get(played, "hubspot", "/_sandbox/contacts", email)
    status: str = contact["subscriptions"][str(MARKETING)]["status"]
    return status


def _mailchimp_status(played: Played, email: str) -> str:
    status: str = _get(played, "mailchimp", "/_sandbox/members", email)["member"]["status"]
    return status


def _dynamics_ticked(played: Played, email: str) -> list[bool]:
    return [c["donotbulkemail"] for c in _get(played, "dynamics", "/_sandbox/contacts", email)]


def _email_marketing(played: Played, email: str) -> tuple[str, str | None]:
    """The store's email_marketing status for `email` and the source of its last ledger row."""
    view = played.stage.store.views.subject(email)
    state = next(s for s in view.states if s.purpose == "email_marketing")
    rows = [r for r in view.timeline if r.purpose == "email_marketing"]
    return state.status, rows[-1].source if rows else None


def test_default_demo_plays_every_system_the_shipped_config_enables(played: Played) -> None:
    """Without --systems the demo plays all four, and the backfill reports each one's counts."""
    assert played.stage.systems == FOUR
    for system in FOUR:
        line = re.search(rf"^   {system}: (\d+) records in the first pass", played.out, re.M)
        assert line and int(line.group(1)) >= CONTACTS, played.out
        assert played.result.backfill[system]["records_read"] >= CONTACTS
    assert re.search(
        r"backfill: \d+ records \(salesforce \d+, hubspot \d+, mailchimp \d+", played.out
    )


def test_mailchimp_unsubscribe_reaches_salesforce_hubspot_and_dynamics(played: Played) -> None:
    """The person who clicked unsubscribe in Mailchimp is opted out in every other emulator,
    and the store's denial came from Mailchimp."""
    revocation = played.result.revocation
    person = revocation.person
    assert revocation.origin == "mailchimp"
    assert set(revocation.arrived_s) == {"salesforce", "hubspot", "dynamics"}
    assert _mailchimp_status(played, person) == "unsubscribed"
    assert _sf_ticked(played, person) and all(_sf_ticked(played, person))
    assert _hubspot_marketing(played, person) == "UNSUBSCRIBED"
    assert _dynamics_ticked(played, person) and all(_dynamics_ticked(played, person))
    assert _email_marketing(played, person) == ("denied", "mailchimp")
    assert re.search(
        r"revocation Mailchimp -> Salesforce \d+\.\d+ s, HubSpot \d+\.\d+ s, Dynamics \d+\.\d+ s",
        played.out,
    )


def test_a_dynamics_rep_ticking_donotbulkemail_unsubscribes_the_mailchimp_member(
    played: Played,
) -> None:
    """Another person, subscribed in Mailchimp before, is unsubscribed there (and opted out in
    Salesforce and HubSpot) after a Dynamics rep ticked donotbulkemail."""
    step = played.result.rep_opt_out
    assert step is not None and step.origin == "dynamics"
    person = step.person
    assert person != played.result.person
    assert all(_dynamics_ticked(played, person))
    assert _mailchimp_status(played, person) == "unsubscribed"
    assert all(_sf_ticked(played, person))
    assert _hubspot_marketing(played, person) == "UNSUBSCRIBED"
    assert _email_marketing(played, person) == ("denied", "dynamics")
    assert re.search(r"rep's opt-out Dynamics -> Salesforce \d+\.\d+ s, HubSpot", played.out)
    history = played.stage.store.views.subject(person).timeline
    assert any(r.purpose == "email_marketing" and r.status == "granted" for r in history), (
        "the demo picks someone who had opted in"
    )


def test_a_salesforce_rep_unticking_the_box_resubscribes_nobody(played: Played) -> None:
    """The rep's untick is a grant_blocked conflict as on-call sees it; Salesforce is ticked again,
    the Mailchimp member stays unsubscribed and no opt-in was written anywhere for the person."""
    blocked = played.result.blocked
    person = played.result.person
    assert blocked is not None and blocked.pushed_back
    assert blocked.held == {"hubspot": True, "mailchimp": True, "dynamics": True}
    conflicts = [
        c
        for c in played.stage.store.views.conflicts(kind=ConflictKind.GRANT_BLOCKED)
        if c.id == blocked.conflict_id
    ]
    assert len(conflicts) == 1
    conflict = conflicts[0]
    assert conflict.kind == "grant_blocked" and conflict.severity == "needs_review"
    assert conflict.link is not None and conflict.link.startswith("salesforce/")
    assert '"kind": "grant_blocked"' in played.out
    assert all(_sf_ticked(played, person))
    assert _mailchimp_status(played, person) == "unsubscribed"
    assert _hubspot_marketing(played, person) == "UNSUBSCRIBED"
    assert all(_dynamics_ticked(played, person))
    view = played.stage.store.views.subject(person)
    assert [d for d in view.deliveries if d.status == "granted"] == []
    assert _email_marketing(played, person)[0] == "denied"


def test_the_demo_ends_with_the_subject_and_a_verified_ledger(played: Played) -> None:
    """`subject show` of the person (state denied, linked in all four) and the ledger verifies."""
    subject = played.out.split("consent-sync subject show", 1)[1]
    assert "email_marketing  denied" in subject
    for system in FOUR:
        assert re.search(rf"^     {system} ", subject, re.M), subject
    assert "ledger: verified" in played.out


def _demo(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSENT_SYNC), "demo", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_two_system_demo_keeps_the_hubspot_to_salesforce_scenario(tmp_path: Path) -> None:
    """`--systems salesforce,hubspot` starts only those sandboxes and plays the original steps:
    a HubSpot unsubscribe reaching Salesforce, then a blocked re-grant pushed back."""
    work = tmp_path / "demo"
    done = _demo("--systems", "salesforce,hubspot", "--contacts", "100", "--work-dir", str(work))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "left out (not in --systems): dynamics, mailchimp" in out
    assert re.search(r"\. \S+ clicks 'unsubscribe' in a HubSpot marketing email footer", out)
    assert re.search(r"revocation HubSpot -> Salesforce: \d+\.\d+ s", out)
    assert "Dynamics rep" not in out
    assert '"kind": "grant_blocked"' in out
    assert "denial pushed back: yes; still opted out in HubSpot" in out
    assert "ledger: verified" in out
    assert "email_marketing  denied" in out
    env = (work / "sandbox" / "env").read_text()
    assert "SALESFORCE_CLIENT_ID" in env and "HUBSPOT_ACCESS_TOKEN" in env
    assert "MAILCHIMP_" not in env and "DYNAMICS_" not in env


def test_an_unknown_system_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """`--systems salesforce,zoho` exits 2 naming the known systems, and starts no sandbox."""
    work = tmp_path / "demo"
    done = _demo("--systems", "salesforce,zoho", "--work-dir", str(work))
    assert done.returncode == 2
    assert (
        "error: --systems: cannot play 'zoho': unknown system "
        "(known: dynamics, hubspot, mailchimp, salesforce)"
    ) in done.stderr
    assert done.stdout == ""
    assert not work.exists()


@pytest.mark.parametrize("systems", [["mailchimp"], [], ["hubspot", "hubspot"]])
def test_fewer_than_two_systems_are_refused(systems: list[str]) -> None:
    """A revocation needs somewhere to go: one system (or none) is refused, naming the
    playable ones."""
    with pytest.raises(SystemsError, match=r"needs two systems.*salesforce, hubspot, mailchimp"):
        choose_systems(REPO, systems)


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    """The shipped configuration, copied to be changed."""
    for part in ("connectors", "mappings"):
        shutil.copytree(REPO / part, tmp_path / part)
    return tmp_path


def test_systems_need_an_enabled_connector_a_mapping_and_an_emulator(config_copy: Path) -> None:
    """A requested system without a connector file, with a disabled connector, without a mapping
    or without a sandbox emulator is refused, naming what is missing."""
    (config_copy / "connectors" / "dynamics.yaml").unlink()
    (config_copy / "mappings" / "dynamics.yaml").unlink()
    hubspot = config_copy / "connectors" / "hubspot.yaml"
    hubspot.write_text(hubspot.read_text().replace("enabled: true", "enabled: false", 1))
    (config_copy / "mappings" / "mailchimp.yaml").unlink()
    for part in ("connectors", "mappings"):
        shipped = (config_copy / part / "salesforce.yaml").read_text()
        (config_copy / part / "marketo.yaml").write_text(
            shipped.replace("system: salesforce", "system: marketo")
        )
    expected = {
        "dynamics": "no connector configured",
        "hubspot": "its connector is disabled (enabled: false in",
        "mailchimp": "no mapping",
        "marketo": "there is no sandbox emulator for it",
    }
    for name, why in expected.items():
        with pytest.raises(SystemsError, match=re.escape(why)):
            choose_systems(config_copy, ["salesforce", name])
    with pytest.raises(SystemsError, match=r"playable here: salesforce$"):
        choose_systems(config_copy)


def test_by_default_a_configured_system_without_an_emulator_is_left_out(
    config_copy: Path,
) -> None:
    """Without --systems the demo plays every enabled system it has a sandbox for and says which
    configured one it left out."""
    for part in ("connectors", "mappings"):
        shipped = (config_copy / part / "salesforce.yaml").read_text()
        (config_copy / part / "marketo.yaml").write_text(
            shipped.replace("system: salesforce", "system: marketo")
        )
    cast = choose_systems(config_copy)
    assert cast.systems == FOUR
    assert cast.left_out == {"marketo": "no sandbox emulator for it"}
