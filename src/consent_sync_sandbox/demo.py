"""The demo: the systems' sandboxes, the repository's config, a SQLite store, and a real scenario.

1. Backfill every system, seeded as real portals are (most people never asked); disagreements are
   resolved by the policy (a denial wins), and an unticked opt-out box is read as "not opted out",
   never as consent: the only opt-ins written are explicit grants with their evidence.
2. A person who opted in unsubscribes in one system (Mailchimp when it plays, else HubSpot) through
   its "a person acts" endpoint; the revocation reaches every other system, and the time it took
   in each is measured on the poll path.
3. With Dynamics: a rep ticks "Do not allow Bulk Emails" for another person, and that reaches every
   other system too (Mailchimp: unsubscribed).
4. With Salesforce: a sales rep unticks the first person's "Email Opt Out". That is not an opt-in:
   the denial stands everywhere (no Mailchimp re-subscribe), the attempt is shown as on-call sees
   it, and the box is ticked again.
5. `subject show` for that person: state per purpose and the ledger timeline with evidence; then
   a summary. Steps are numbered as they play (a two-system run has no step 3).

With `--serve`, the daemon then keeps running with its HTTP app, and the demo prints the on-call
console's URL and a fresh write token: the blocked re-grant of step 4 waits in its queue.
See README.md ("make demo") and docs/sandboxes.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text

from consent_sync.cli.subject import render
from consent_sync.store.errors import SubjectNotFoundError
from consent_sync.store.tables import ConflictRow, SyncRunRow
from consent_sync_sandbox.demo_daemon import in_process_daemon
from consent_sync_sandbox.demo_people import DYNAMICS, PEOPLE, SALESFORCE, TITLES
from consent_sync_sandbox.stage import Stage

Say = Callable[[str], None]
#: Where the person of step 2 unsubscribes: the first of these that plays.
ORIGINS = ("mailchimp", "hubspot", "dynamics", "salesforce")


class DemoError(RuntimeError):
    """The scenario did not go as the product promises."""


@dataclass
class Propagation:
    """One opt-out made in `origin` and when each other system showed it."""

    origin: str
    person: str
    arrived_s: dict[str, float]  # system -> seconds after the act

    def summary(self) -> str:
        """`Mailchimp -> Salesforce 1.23 s, HubSpot 1.31 s` (a single target: `... : 1.23 s`)."""
        if len(self.arrived_s) == 1:
            ((system, seconds),) = self.arrived_s.items()
            return f"{TITLES[self.origin]} -> {TITLES[system]}: {seconds:.2f} s"
        arrivals = ", ".join(f"{TITLES[s]} {t:.2f} s" for s, t in self.arrived_s.items())
        return f"{TITLES[self.origin]} -> {arrivals}"


@dataclass
class Blocked:
    """A rep's unticked box that was not taken as a grant."""

    conflict_id: int
    pushed_back: bool  # the box is ticked again
    held: dict[str, bool] = field(default_factory=dict)  # other systems still opted out


@dataclass
class DemoResult:
    """What the demo measured, for the summary and for tests."""

    person: str
    backfill: dict[str, dict[str, int]]
    revocation: Propagation
    rep_opt_out: Propagation | None  # step 3, when Dynamics plays
    blocked: Blocked | None  # step 4, when Salesforce plays


def run_demo(stage: Stage, say: Say, *, pull_interval: float = 1.0) -> DemoResult:
    """Play the scenario with the daemon's scheduler running in-process, narrating via `say`;
    then the person's `subject show` and a summary of the figures."""
    _, scheduler = in_process_daemon(stage, pull_interval)
    say(
        f"   the daemon runs in-process: pull every {pull_interval:g} s per system, push when woken"
    )
    scheduler.start()
    try:
        backfill = _backfill(stage, say)
        with_dynamics = "dynamics" in stage.systems
        people = _pick_people(stage, 2 if with_dynamics else 1)
        origin = next(s for s in ORIGINS if s in stage.systems)
        step = 2
        revocation = _unsubscribe(stage, origin, people[0], say, step)
        rep_opt_out = None
        if with_dynamics:
            step += 1
            rep_opt_out = _rep_opts_out_in_dynamics(stage, people[1], say, step)
        blocked = None
        if "salesforce" in stage.systems:
            step += 1
            blocked = _rep_unticks_in_salesforce(stage, people[0], say, step)
    finally:
        scheduler.stop(grace=15)
    result = DemoResult(people[0], backfill, revocation, rep_opt_out, blocked)
    _show_subject(stage, result.person, step + 1, say)
    _summary(stage, result, say)
    return result


def _wait(what: str, done: Callable[[], bool], timeout: float = 120.0) -> float:
    """Seconds until `done()` holds, polling; DemoError after `timeout`."""
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise DemoError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def _pull_runs(stage: Stage) -> dict[str, list[SyncRunRow]]:
    runs: dict[str, list[SyncRunRow]] = {system: [] for system in stage.systems}
    for run in stage.store.views.recent_runs(limit=500):
        if run.kind == "pull" and run.finished_at is not None and run.system in runs:
            runs[run.system].append(run)
    return runs


def _quiet(stage: Stage) -> bool:
    """Every system's last two pulls decided and wrote nothing, and no write is pending."""
    runs = _pull_runs(stage)
    for system, pulls in runs.items():
        if len(pulls) < 2 or any(
            r.error or r.counts.get("decisions") or r.counts.get("writes_ok") for r in pulls[:2]
        ):
            return False
        if stage.store.outbox.pending(system, 1, datetime.now(UTC)):
            return False
    return True


def _backfill(stage: Stage, say: Say) -> dict[str, dict[str, int]]:
    names = ", ".join(TITLES[s] for s in stage.systems)
    say(f"1. Backfill: the daemon reads every contact of {names} and reconciles them")
    seconds = _wait("the backfill to settle", lambda: _quiet(stage), timeout=600)
    totals: dict[str, dict[str, int]] = {}
    for system, pulls in _pull_runs(stage).items():
        total: dict[str, int] = {}
        for run in pulls:
            for key, value in run.counts.items():
                total[key] = total.get(key, 0) + value
        total["records_read"] = pulls[-1].counts.get("records_read", 0) if pulls else 0
        totals[system] = total
        say(
            f"   {system}: {total['records_read']} records in the first pass, "
            f"{total.get('decisions', 0)} decisions, {total.get('writes_ok', 0)} writes, "
            f"{total.get('api_calls', 0)} API calls in {len(pulls)} pulls"
        )
    disagreements = sum(t.get("conflicts.initial_disagreement", 0) for t in totals.values())
    say(
        f"   settled in {seconds:.1f} s. {disagreements} people disagreed between the systems "
        "at first sight; for each the denial was adopted and pushed to the others "
        "(initial_disagreement, info)"
    )
    unrepresentable = sum(t.get("conflicts.grant_not_representable", 0) for t in totals.values())
    if unrepresentable:
        example = (
            " (a Mailchimp member who unsubscribed or bounced cannot be re-subscribed through "
            "the API)"
            if "mailchimp" in stage.systems
            else ""
        )
        say(
            f"   {unrepresentable} grants were not written where the system cannot take them"
            f"{example}: grant_not_representable, info, never retried"
        )
    counts = _email_states(stage)
    say(
        f"   marketing email: {counts.get('granted', 0)} explicit grants (opt-ins with their "
        f"evidence), {counts.get('not_opted_out', 0)} only 'not opted out' (an unticked box: "
        f"no consent), {counts.get('denied', 0)} opted out; {_optins_written(stage)} opt-ins "
        "written (only ever with the evidence their decision recorded; none from an unticked "
        "box)"
    )
    return totals


def _email_states(stage: Stage) -> dict[str, int]:
    with stage.store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT status, COUNT(*) FROM consent_state "
                "WHERE purpose = 'email_marketing' GROUP BY status"
            )
        ).all()
    return {str(status): int(count) for status, count in rows}


def _optins_written(stage: Stage) -> int:
    with stage.store.engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT COUNT(*) FROM deliveries WHERE status = 'granted'")
            ).scalar_one()
        )


def _pick_people(stage: Stage, count: int) -> list[str]:
    """`count` people every playing system holds and none has opted out, the store's email
    state granted (an explicit opt-in) where enough are, subscribed in Mailchimp if it plays."""
    granted: list[str] = []
    others: list[str] = []
    for email in stage.shared_agreeing_emails():
        try:
            view = stage.store.views.subject(email)
        except SubjectNotFoundError:
            continue
        state = {s.purpose: s.status for s in view.states}.get("email_marketing")
        if state not in ("granted", "not_opted_out"):
            continue
        shown = {system: stage.email(system, email) for system in stage.systems}
        if any(not v.held or v.opted_out for v in shown.values()):
            continue
        if "mailchimp" in shown and not shown["mailchimp"].opted_in:
            continue
        (granted if state == "granted" else others).append(view.subject.email)
        if len(granted) == count:
            return granted
    found = (granted + others)[:count]
    if len(found) < count:
        raise DemoError(f"fewer than {count} people may be mailed in every system; seed more")
    return found


def _wait_everywhere(stage: Stage, origin: str, person: str) -> Propagation:
    """How long after an opt-out in `origin` each other system showed it for `person`."""
    started = time.monotonic()
    arrived: dict[str, float] = {}
    waiting = [s for s in stage.systems if s != origin]

    def everywhere() -> bool:
        for system in waiting:
            if system not in arrived and stage.email(system, person).opted_out:
                arrived[system] = time.monotonic() - started
        return len(arrived) == len(waiting)

    names = ", ".join(TITLES[s] for s in waiting)
    _wait(f"the opt-out of {person} to reach {names}", everywhere)
    return Propagation(origin, person, {s: arrived[s] for s in waiting})


def _show_arrivals(stage: Stage, result: Propagation, say: Say) -> None:
    for system, seconds in result.arrived_s.items():
        shown = stage.email(system, result.person).shown
        say(f"   {TITLES[system]} shows {shown} {seconds:.2f} s after it")


def _unsubscribe(stage: Stage, origin: str, person: str, say: Say, step: int) -> Propagation:
    say(f"{step}. {person} {PEOPLE[origin].unsubscribe_act}")
    stage.unsubscribe(origin, person)
    result = _wait_everywhere(stage, origin, person)
    _show_arrivals(stage, result, say)
    say(f"   (poll path: {TITLES[origin]}'s next pull decided it, each system's pusher wrote it)")
    return result


def _rep_opts_out_in_dynamics(stage: Stage, person: str, say: Say, step: int) -> Propagation:
    say(f"{step}. A Dynamics rep ticks 'Do not allow Bulk Emails' (donotbulkemail) for {person}")
    with stage.control("dynamics") as client:
        DYNAMICS.tick_bulk_email_opt_out(client, person)
    result = _wait_everywhere(stage, "dynamics", person)
    _show_arrivals(stage, result, say)
    return result


def _rep_unticks_in_salesforce(stage: Stage, person: str, say: Say, step: int) -> Blocked:
    say(f"{step}. A sales rep unticks 'Email Opt Out' for {person} in Salesforce")
    say(
        "   An unticked box only says nobody objects: it is not an opt-in, so it cannot lift "
        "the person's unsubscribe"
    )
    with stage.control("salesforce") as client:
        SALESFORCE.set_opt_out(client, person, opted_out=False)
    subject = stage.store.views.subject(person)

    def blocked() -> list[ConflictRow]:
        return [
            c
            for c in stage.store.views.conflicts(open_only=True)
            if c.kind == "grant_blocked" and c.subject_id == subject.subject.id
        ]

    _wait("the attempt to be judged", lambda: bool(blocked()))
    conflict = blocked()[-1]
    if conflict.id is None:
        raise DemoError("the conflict has no id")
    say(
        "   The unsubscribe stands (grant_blocked: not a grant). On-call sees "
        f"(consent-sync conflicts show {conflict.id}):"
    )
    shown = {
        "id": conflict.id,
        "kind": conflict.kind,
        "severity": conflict.severity,
        "purpose": conflict.purpose,
        "link": conflict.link,
        "rule": conflict.rule,
        "message": conflict.message,
        "sides": conflict.sides,
    }
    for line in json.dumps(shown, indent=2, ensure_ascii=False).splitlines():
        say(f"     {line}")
    try:
        _wait(
            "the denial to be pushed back",
            lambda: stage.email("salesforce", person).opted_out,
            60,
        )
        pushed_back = True
    except DemoError:
        pushed_back = False
    say(
        "   ...and the denial was pushed back: Salesforce shows "
        f"{stage.email('salesforce', person).shown}"
    )
    held: dict[str, bool] = {}
    for system in stage.systems:
        if system != "salesforce":
            view = stage.email(system, person)
            held[system] = view.opted_out
            outcome = "nothing was re-subscribed" if view.opted_out else "the denial did NOT hold"
            say(f"   {TITLES[system]} shows {view.shown}: {outcome}")
    return Blocked(conflict.id, pushed_back, held)


def _show_subject(stage: Stage, person: str, step: int, say: Say) -> None:
    say(f"{step}. consent-sync subject show {person}")
    view = stage.store.views.subject(person)
    for line in render(view, stage.config.purposes).splitlines():
        say(f"   {line}")


def _summary(stage: Stage, result: DemoResult, say: Say) -> None:
    """The demo's figures, one line each."""
    verified = stage.store.views.verify_ledger()
    say("")
    say("Summary")
    records = sum(t.get("records_read", 0) for t in result.backfill.values())
    decisions = sum(t.get("decisions", 0) for t in result.backfill.values())
    per_system = ", ".join(
        f"{system} {totals.get('records_read', 0)}" for system, totals in result.backfill.items()
    )
    say(f"   backfill: {records} records ({per_system}), {decisions} decisions")
    say(f"   revocation {result.revocation.summary()} (poll path)")
    if result.rep_opt_out is not None:
        say(f"   rep's opt-out {result.rep_opt_out.summary()} (poll path)")
    if result.blocked is not None:
        held = [TITLES[s] for s, ok in result.blocked.held.items() if ok]
        lost = [TITLES[s] for s, ok in result.blocked.held.items() if not ok]
        kept = f"; still opted out in {', '.join(held)}" if held else ""
        kept += f"; NOT opted out in {', '.join(lost)}" if lost else ""
        say(
            "   opt-out unticked in Salesforce (not a grant): blocked "
            f"(conflict #{result.blocked.conflict_id}), "
            f"denial pushed back: {'yes' if result.blocked.pushed_back else 'NO'}{kept}"
        )
    say(f"   ledger: {'verified' if verified.ok else 'BROKEN'} ({verified})")
