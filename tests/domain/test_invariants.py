"""Invariants I1-I7 (docs/design.md), checked by a hypothesis state machine against the real store.

Several simulated systems (in-memory fakes: this tests the core and the store, not connectors)
receive random record creations (first sights), grants and revocations by people, pulls that
crash half-way, pushes that crash before they are acknowledged, transient push faults, store
restarts, manual decisions, and CRM answers with values that will not parse (one field of a
record, or the record itself): such a value is that record's `unparseable` conflict, its read is
skipped, and a push that cannot read a field back writes only a denial to it. After each example
the machine quiesces — faults cleared, cycles run until nothing changes; malformed answers stay —
and checks every invariant against the store and the fake systems, for every healthy record.

Each system keeps each purpose in a field of one of three shapes, as real CRMs do: an opt-out
checkbox (ticked = denied, unticked = not opted out: it cannot say "granted"), a subscription
(HubSpot's: SUBSCRIBED needs the legal basis its decision recorded, else nothing is written) and
a picklist (explicit values, no evidence stored). Most records start never asked.

Each example runs on a database of its own: a copy of a migrated SQLite file, or a PostgreSQL
database created from a migrated template.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from consent_sync.domain.identity import MatchKeys, normalize_email
from consent_sync.domain.model import (
    Conflict,
    ConflictKind,
    Evidence,
    LinkKey,
    Observation,
    Policy,
    Purpose,
    Status,
    TimeKind,
)
from consent_sync.domain.records import Record, Unreadable, unreadable_conflicts
from consent_sync.store import Store, SubjectNotFoundError
from consent_sync.store.errors import DecisionRefusedError
from support.databases import (
    create_database,
    drop_database,
    fresh_database,
    migrate,
    postgres_url,
)

G, D, U, N = Status.GRANTED, Status.DENIED, Status.UNKNOWN, Status.NOT_OPTED_OUT
SYSTEMS = ("alpha", "beta", "gamma")
#: How long the model pusher holds a grant whose field would not parse (the engine backs off
#: to at most an hour, sync/engine.py RETRY_CEILING).
HOLD = timedelta(hours=1)
BOX, SUBSCRIPTION, PICKLIST = "opt_out_box", "subscription", "picklist"
#: The field shape each system keeps each purpose in (every shape meets every other one).
SHAPES = {
    "alpha": {"email_marketing": BOX, "sms_marketing": PICKLIST, "phone_calls": BOX},
    "beta": {"email_marketing": SUBSCRIPTION, "sms_marketing": BOX, "phone_calls": PICKLIST},
    "gamma": {"email_marketing": PICKLIST, "sms_marketing": SUBSCRIPTION, "phone_calls": BOX},
}
#: What a person can make each shape say, and what a first sight most often finds.
VALUES = {BOX: [N, N, N, D], SUBSCRIPTION: [U, U, U, G, D], PICKLIST: [U, U, G, D]}
ACTS = {BOX: [D, N], SUBSCRIPTION: [G, D], PICKLIST: [G, D]}
#: What each shape holds once a canonical status is written (absent: it cannot be written).
HELD = {BOX: {G: N, N: N, D: D}, SUBSCRIPTION: {G: G, D: D}, PICKLIST: {G: G, D: D}}
TARGETS = {
    (system, "Contact", purpose): HELD[shape]
    for system, shapes in SHAPES.items()
    for purpose, shape in shapes.items()
}
BASES = ("consent", "legitimate_interest")
PEOPLE = ("ada@example.com", "O'Brien@Example.com", "Zoë@exämple.de", "bob+news@example.org")
PURPOSES = {
    "email_marketing": Purpose("email_marketing"),
    "sms_marketing": Purpose("sms_marketing", require_evidence=True),
    "phone_calls": Purpose("phone_calls", policy=Policy.LAST_WRITER_WINS),
}
T0 = datetime(2026, 1, 1, tzinfo=UTC)
EXAMPLES = int(os.environ.get("CONSENT_SYNC_INVARIANT_EXAMPLES", "500"))


@dataclass
class FakeRecord:
    record_id: str
    email: str
    values: dict[str, Status]
    modified: datetime


@dataclass
class FakeSystem:
    """A CRM as the store sees it: records, modification stamps, and a switch for push faults."""

    name: str
    records: dict[str, FakeRecord] = field(default_factory=dict)
    failing: bool = False
    writes: int = 0
    # Every opt-in written: (record id, purpose, the ledger row it was pushed for, legal basis).
    optins: list[tuple[str, str, int | None, str | None]] = field(default_factory=list)
    # The legal basis a subscription's SUBSCRIBED carries, as the system stores it.
    bases: dict[tuple[str, str], str] = field(default_factory=dict)
    # What the system answers malformed: (record id, purpose), or (record id, None) for the
    # record itself (its modification stamp).
    garbled: set[tuple[str, str | None]] = field(default_factory=set)

    def unreadable(self, record_id: str) -> set[str]:
        """The purposes a read of this record cannot read."""
        if (record_id, None) in self.garbled:
            return set(PURPOSES)
        return {p for p in PURPOSES if (record_id, p) in self.garbled}


@dataclass(frozen=True)
class Act:
    """A person's change in a CRM (not a first sight)."""

    system: str
    record_id: str
    email: str
    purpose: str
    status: Status
    at: datetime


class ConsentWorld(RuleBasedStateMachine):
    """Systems, people and the store, driven by random steps."""

    new_database: Callable[[], tuple[str, Callable[[], None]]]

    def __init__(self) -> None:
        super().__init__()
        self.url, self.drop = type(self).new_database()
        self.store = Store.open(self.url)
        self.clock = T0
        self.systems = {name: FakeSystem(name) for name in SYSTEMS}
        # The store sees a CRM by reading it. A person's change counts once a read shows it: a
        # field changed and changed back between two reads shows nothing (rule 1, no change).
        self.acts: list[Act] = []  # changes a read has shown
        self.unread: dict[tuple[str, str, str], Act] = {}  # changes no read has shown yet
        self.last_read: dict[tuple[str, str, str], Status] = {}  # mirrors the shadows' last_seen
        # ...and their last_written: a value read back that equals a write we claimed is taken
        # for our echo, so a person who changed a field to exactly that value shows nothing.
        self.claimed: dict[tuple[str, str, str], Status] = {}
        self.manual_grants: list[tuple[str, str, datetime]] = []
        self.seen: set[tuple[LinkKey | None, str, str]] = set()  # unparseable conflicts recorded
        self.next_id = 0

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    # -- the world ------------------------------------------------------------------------

    @initialize(system=st.sampled_from(SYSTEMS), person=st.sampled_from(PEOPLE), data=st.data())
    def first_record(self, system: str, person: str, data: st.DataObject) -> None:
        self.create_record(system, person, data)

    @rule(system=st.sampled_from(SYSTEMS), person=st.sampled_from(PEOPLE), data=st.data())
    def create_record(self, system: str, person: str, data: st.DataObject) -> None:
        """A record appears (import, new lead, re-link): its values are a first sight."""
        fake = self.systems[system]
        if len(fake.records) >= 6:
            return
        values = {
            p: data.draw(st.sampled_from(VALUES[SHAPES[system][p]]), label=p) for p in PURPOSES
        }
        self.next_id += 1
        record_id = f"{system[0]}{self.next_id:04d}"
        fake.records[record_id] = FakeRecord(record_id, person, values, self.tick())
        for purpose, status in values.items():
            if status is G and SHAPES[system][purpose] == SUBSCRIPTION:
                fake.bases[(record_id, purpose)] = data.draw(st.sampled_from(BASES))

    @rule(data=st.data())
    def person_changes_consent(self, data: st.DataObject) -> None:
        """Someone grants or revokes in one CRM (a rep ticks a box, a person unsubscribes)."""
        candidates = [(s, r) for s in self.systems.values() for r in s.records.values()]
        if not candidates:
            return
        fake, record = data.draw(st.sampled_from(candidates))
        purpose = data.draw(st.sampled_from(sorted(PURPOSES)))
        status = data.draw(st.sampled_from(ACTS[SHAPES[fake.name][purpose]]))
        changed = record.values[purpose] is not status
        record.values[purpose] = status
        if status is G and SHAPES[fake.name][purpose] == SUBSCRIPTION:
            fake.bases[(record.record_id, purpose)] = data.draw(st.sampled_from(BASES))
        record.modified = self.tick()  # an edit bumps the record's stamp, changed or not
        if changed:
            key = (fake.name, record.record_id, purpose)
            act = Act(fake.name, record.record_id, record.email, purpose, status, record.modified)
            self.unread[key] = act  # a later edit of the same field before a read replaces it

    @rule(data=st.data(), whole=st.booleans())
    def crm_answers_garbage(self, data: st.DataObject, whole: bool) -> None:
        """A CRM starts (or stops) answering a value of a record as one that will not parse
        (a timestamp `2026-13-45`), or the record's own stamp, if `whole`."""
        candidates = [(s, r) for s in self.systems.values() for r in s.records.values()]
        if not candidates:
            return
        fake, record = data.draw(st.sampled_from(candidates))
        purpose = None if whole else data.draw(st.sampled_from(sorted(PURPOSES)))
        fake.garbled ^= {(record.record_id, purpose)}

    @rule(system=st.sampled_from(SYSTEMS))
    def toggle_push_faults(self, system: str) -> None:
        """A CRM starts or stops failing writes (503s, timeouts)."""
        self.systems[system].failing = not self.systems[system].failing

    @rule()
    def restart(self) -> None:
        """The daemon is killed and restarted: only the database survives."""
        self.store.close()
        self.store = Store.open(self.url)

    @rule(
        person=st.sampled_from(PEOPLE),
        purpose=st.sampled_from(sorted(PURPOSES)),
        status=st.sampled_from([G, D]),
    )
    def manual_decision(self, person: str, purpose: str, status: Status) -> None:
        """An operator or a preference centre records a decision for a person.

        Half the grants come with a legal basis, half without (a subscription cannot take those).
        """
        now = self.tick()
        basis = "consent" if now.second % 2 else None
        evidence = Evidence(
            "manual:ops", collection_method="preference_centre", actor="subject", legal_basis=basis
        )
        observation = Observation(
            "manual:ops", None, purpose, status, now, TimeKind.ASSERTED, evidence
        )
        try:
            self.store.decisions.record(person, observation, PURPOSES, now, TARGETS)
        except DecisionRefusedError:
            assert PURPOSES[purpose].require_evidence and basis is None
            return
        if status is G:
            self.manual_grants.append((normalize_email(person), purpose, now))

    # -- the sync cycle -------------------------------------------------------------------

    @rule(system=st.sampled_from(SYSTEMS), crash_after=st.none() | st.integers(0, 4))
    def pull(self, system: str, crash_after: int | None) -> None:
        """Read every record of a system; optionally crash after some of them."""
        records = list(self.systems[system].records.values())
        if crash_after is not None:
            records = records[:crash_after]
        self.ingest(system, records)

    @rule(system=st.sampled_from(SYSTEMS), crash_before_ack=st.booleans())
    def push(self, system: str, crash_before_ack: bool) -> None:
        """Drain a system's outbox; optionally crash after writing, before acknowledging."""
        self.push_once(system, crash_before_ack=crash_before_ack)

    def ingest(self, system: str, records: list[FakeRecord]) -> int:
        observations = []
        keys: dict[LinkKey, MatchKeys] = {}
        unparseable: list[Conflict] = []
        for record in records:
            link = LinkKey(system, "Contact", record.record_id)
            unread = self.systems[system].unreadable(record.record_id)
            if unread:
                unparseable += unreadable_conflicts(system, _answered(record, unread), FIELDS)
            if unread != set(PURPOSES):
                keys[link] = MatchKeys(email=normalize_email(record.email))
            for purpose, status in record.values.items():
                if purpose in unread:
                    continue  # nothing is read from it: a change there stays unseen
                key = (system, record.record_id, purpose)
                act = self.unread.pop(key, None)
                echo = self.claimed.get(key) is status
                if act is not None and self.last_read.get(key) is not status and not echo:
                    self.acts.append(act)
                if key in self.claimed and not echo:
                    del self.claimed[key]
                self.last_read[key] = status
                fake_basis = self.systems[system].bases.get((record.record_id, purpose))
                if status is not G or SHAPES[system][purpose] != SUBSCRIPTION:
                    fake_basis = None  # only a subscription stores a basis with its value
                observations.append(
                    Observation(
                        system,
                        link,
                        purpose,
                        status,
                        record.modified,
                        TimeKind.RECORD_MODIFIED,
                        Evidence(system, source_record=str(link), legal_basis=fake_basis),
                    )
                )
        # The store reports a conflict still open once; asking it again each read only costs time.
        fresh = [c for c in unparseable if (c.link, c.purpose, c.detail["field"]) not in self.seen]
        if fresh:
            self.store.decisions.record_conflicts(fresh, self.tick())
            self.seen |= {(c.link, c.purpose, c.detail["field"]) for c in fresh}
        if not observations:
            return 0
        return self.store.decisions.ingest(
            observations, keys, PURPOSES, self.tick(), TARGETS
        ).decisions

    def push_once(self, system: str, *, crash_before_ack: bool = False) -> int:
        fake = self.systems[system]
        now = self.tick()
        items = self.store.outbox.pending(system, 500, now)
        if not items:
            return 0
        # Read before write: a change made in the CRM since the last pull is reconciled first,
        # so a push never overwrites a revocation nobody has seen yet.
        ids = {i.link.record_id for i in items}
        self.ingest(system, [r for r in fake.records.values() if r.record_id in ids])
        written = 0
        for item in self.store.outbox.due(system, 500, self.tick()):
            if item.status is not D and item.purpose in fake.unreadable(item.link.record_id):
                # Not read back: only a denial may be written over what it may hold.
                self.store.outbox.mark_retry(item, "unparseable", now + HOLD, now)
                continue
            self.claimed[(system, item.link.record_id, item.purpose)] = item.status
            if fake.failing:
                self.store.outbox.mark_retry(item, "503 Service Unavailable", now, now)
                continue
            record = fake.records[item.link.record_id]
            basis = None
            if item.status is G:  # the pusher sends a grant with its decision's own evidence
                seq = item.decision_seq
                proof = self.store.views.evidence([seq]).get(seq) if seq else None
                basis = proof.legal_basis if proof else None
                if SHAPES[system][item.purpose] == SUBSCRIPTION and basis is None:
                    self.store.outbox.mark_withheld(item, "SUBSCRIBED needs a legal basis", now)
                    del self.claimed[(system, item.link.record_id, item.purpose)]
                    continue
            if record.values[item.purpose] is not item.status:
                record.values[item.purpose] = item.status
                record.modified = self.tick()
                fake.writes += 1
                if item.status is G:
                    fake.optins.append((record.record_id, item.purpose, item.decision_seq, basis))
                    if basis is not None:
                        fake.bases[(record.record_id, item.purpose)] = basis
            written += 1
            if not crash_before_ack:
                self.store.outbox.mark_written(item, self.tick(), TARGETS)
                self.last_read[(system, record.record_id, item.purpose)] = item.status
        return written

    # -- quiescence and the invariants ----------------------------------------------------

    def quiesce(self) -> None:
        for fake in self.systems.values():
            fake.failing = False
        for _ in range(12):
            # Quiet means every wait has run out: a grant held while its field would not parse
            # goes out at its next attempt, an hour later at the most (push_once).
            self.clock += HOLD
            changed = 0
            for system in SYSTEMS:
                changed += self.ingest(system, list(self.systems[system].records.values()))
                changed += self.push_once(system)
            if not changed:
                return
        raise AssertionError("the store did not converge within 12 quiet cycles")

    def teardown(self) -> None:
        try:
            self.quiesce()
            self.assert_invariants()
        finally:
            self.store.close()
            self.drop()

    def canonical(self) -> dict[tuple[str, str], Status]:
        out: dict[tuple[str, str], Status] = {}
        for person in {normalize_email(p) for p in PEOPLE}:
            try:
                view = self.store.views.subject(person)
            except SubjectNotFoundError:
                continue
            for state in view.states:
                out[(person, state.purpose)] = Status(state.status)
        return out

    def assert_invariants(self) -> None:
        canonical = self.canonical()
        ledger = list(self.store.views.ledger())

        # I4 Audit: the chain verifies and every change of state is exactly one ledger row.
        check = self.store.views.verify_ledger()
        assert check.ok, check
        emails = {}
        for person in {normalize_email(p) for p in PEOPLE}:
            try:
                emails[self.store.views.subject(person).subject.id] = person
            except SubjectNotFoundError:
                continue
        chains: dict[tuple[str, str], Status] = {}
        for row in ledger:
            key = (emails[row.subject_id], row.purpose)
            assert Status(row.previous) is chains.get(key, U), f"ledger row {row.seq} skips a state"
            assert row.status != row.previous
            chains[key] = Status(row.status)
        for key, status in canonical.items():
            assert chains.get(key, U) is status, f"{key}: state without its ledger row"

        # I2 Convergence: every record holds the canonical value of its subject as its field can
        # say it (an opt-out box unticked for a grant); a field that cannot hold the value, or a
        # subscription offered a grant without a legal basis, keeps what it had.
        withheld = {
            (c.link, c.purpose)
            for c in self.store.views.conflicts(kind=ConflictKind.GRANT_NOT_REPRESENTABLE)
        }
        for fake in self.systems.values():
            for record in fake.records.values():
                person = normalize_email(record.email)
                unread = fake.unreadable(record.record_id)
                for purpose, value in record.values.items():
                    if purpose in unread:
                        continue  # not a healthy value: it was never read
                    expected = HELD[SHAPES[fake.name][purpose]].get(
                        canonical.get((person, purpose), U)
                    )
                    link = str(LinkKey(fake.name, "Contact", record.record_id))
                    if expected is None or (expected is G and (link, purpose) in withheld):
                        continue
                    assert value is expected, (
                        f"{fake.name}/{record.record_id} {purpose}={value}, canonical {expected}"
                    )

        # I7 No fabricated consent: every opt-in written traces to a ledger row of an explicit
        # grant with the same legal basis; "not opted out" never became a grant.
        rows = {row.seq: row for row in ledger}
        for fake in self.systems.values():
            for record_id, purpose, seq, basis in fake.optins:
                assert seq is not None and seq in rows, f"opt-in without a ledger row: {record_id}"
                row = rows[seq]
                assert row.status == G and row.purpose == purpose, f"ledger row {seq} is no grant"
                assert row.evidence.get("legal_basis") == basis, f"basis of {record_id} invented"
        for row in ledger:
            assert not (row.previous == D and row.status == N), f"row {row.seq} lifted a denial"

        # I1 No lost revocation: every revocation stands, unless a later grant was accepted, in
        # the store and in every healthy record of the person (malformed answers elsewhere
        # notwithstanding).
        for act in self.acts:
            if act.status is not D:
                continue
            person = normalize_email(act.email)
            if canonical.get((person, act.purpose)) is D:
                for fake in self.systems.values():
                    for record in fake.records.values():
                        healthy = act.purpose not in fake.unreadable(record.record_id)
                        if healthy and normalize_email(record.email) == person:
                            held = record.values[act.purpose]
                            assert held is D, f"revocation not held: {act} in {record}"
                continue
            later_grants = [
                row
                for row in ledger
                if emails[row.subject_id] == person
                and row.purpose == act.purpose
                and row.status == G
                and row.decided_at > act.at
            ]
            assert later_grants, f"revocation lost: {act}"

        # I6 Resubscribe guard: every grant lifting a denial was a person's change or manual.
        # A record's stamp is an upper bound on when each field changed: the person's grant
        # happened at or before the decision time the ledger holds, on that very record.
        manual = {(p, purpose, at) for p, purpose, at in self.manual_grants}
        for row in ledger:
            if row.previous != D or row.status != G:
                continue
            if row.source.startswith("manual:"):
                assert (emails[row.subject_id], row.purpose, row.decided_at) in manual
                continue
            assert any(
                a.status is G
                and a.system == row.source
                and row.link == str(LinkKey(a.system, "Contact", a.record_id))
                and a.purpose == row.purpose
                and a.at <= row.decided_at
                for a in self.acts
            ), f"ledger row {row.seq} re-granted without a person's change: {row.source}"

        self._check_no_loops()

    def _check_no_loops(self) -> None:
        # I3 No loops: a quiescent world causes no decisions and no writes.
        writes_before = sum(f.writes for f in self.systems.values())
        for system in SYSTEMS:
            assert self.ingest(system, list(self.systems[system].records.values())) == 0
            assert self.store.outbox.due(system, 10, self.tick()) == []
        assert sum(f.writes for f in self.systems.values()) == writes_before


#: Each purpose's field in a fake system is named after the purpose.
FIELDS = {purpose: purpose for purpose in PURPOSES}


def _answered(record: FakeRecord, unread: set[str]) -> Record:
    """The record as the CRM answered it: the values it garbled are unreadable."""
    if unread == set(PURPOSES):
        problem = Unreadable.of("modified", "2026-13-45", "not an ISO 8601 timestamp")
        return Record.broken("Contact", record.record_id, problem)
    return Record(
        "Contact",
        record.record_id,
        {p: s.value for p, s in record.values.items() if p not in unread},
        record.modified,
        unreadable={p: Unreadable.of("timestamp", "2026-13-45", "not a timestamp") for p in unread},
    )


# -- databases per example -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file each example starts from a copy of."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database each example's database is created from."""
    with fresh_database("consent_sync_tmpl") as name:
        migrate(postgres_url(name))
        yield name


def _run(factory: Callable[[], tuple[str, Callable[[], None]]], examples: int) -> None:
    machine = type("World", (ConsentWorld,), {"new_database": staticmethod(factory)})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_invariants_hold_on_sqlite(sqlite_template: Path, tmp_path: Path) -> None:
    """I1-I7 hold after random grants, revocations, first sights, crashes and faults (SQLite)."""

    def new_database() -> tuple[str, Callable[[], None]]:
        path = tmp_path / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)

    _run(new_database, EXAMPLES)


@pytest.mark.postgres
def test_invariants_hold_on_postgresql(pg_template: str) -> None:
    """I1-I7 hold after random grants, revocations, first sights, crashes, faults (PostgreSQL)."""

    def new_database() -> tuple[str, Callable[[], None]]:
        name = f"consent_sync_ex_{uuid.uuid4().hex[:10]}"
        create_database(name, template=pg_template)
        return postgres_url(name), lambda: drop_database(name)

    _run(new_database, max(20, EXAMPLES // 10))
