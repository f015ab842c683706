"""The ledger: append-only by trigger, hash-chained, verified row by row."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from consent_sync.domain.model import LinkKey, Resolution, Status
from consent_sync.store import Store, decide
from consent_sync.store.ledger import row_hash
from consent_sync.store.tables import GENESIS_HASH
from support.store_builders import EMAIL, HS, SF, at, ingest, seen


def _three_decisions(store: Store) -> None:
    ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 2)], 3)
    ingest(store, [seen(SF, Status.GRANTED, 4)], 5)


def _tamper(engine: Engine, statement: str, **params: object) -> None:
    """Run `statement` with every trigger out of the way, as a superuser could."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            query = text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            for name in list(connection.execute(query).scalars()):
                connection.execute(text(f'DROP TRIGGER "{name}"'))
        connection.execute(text(statement), params)


def _in_parallel(*jobs: Callable[[], None]) -> None:
    """Run jobs on their own threads at once; re-raise the first that failed."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def test_chain_of_decisions_verifies(store: Store) -> None:
    """Each decision is one chained row, and the untouched chain verifies."""
    _three_decisions(store)
    rows = list(store.views.ledger())
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    check = store.views.verify_ledger()
    assert check.ok
    assert check.rows == 3


def test_empty_ledger_verifies(store: Store) -> None:
    """A store with no decisions has a valid, empty chain."""
    check = store.views.verify_ledger()
    assert (check.ok, check.rows) == (True, 0)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE ledger SET status = 'granted' WHERE seq = 2", "DELETE FROM ledger WHERE seq = 2"],
)
def test_trigger_refuses_update_and_delete(store: Store, statement: str) -> None:
    """The database itself refuses to change or remove a ledger row."""
    _three_decisions(store)
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
        connection.execute(text(statement))
    assert store.views.verify_ledger().rows == 3


def test_altered_row_is_named(store: Store) -> None:
    """Changing a row's content behind the trigger's back makes verify name that row."""
    _three_decisions(store)
    _tamper(store.engine, "UPDATE ledger SET status = 'granted' WHERE seq = 2")
    check = store.views.verify_ledger()
    assert check.problem is not None
    assert check.problem.seq == 2
    assert "altered" in str(check.problem)


def test_rehashed_row_breaks_the_next_link(store: Store) -> None:
    """A row altered with its hash recomputed is caught where the next row links to it."""
    _three_decisions(store)
    forged = list(store.views.ledger())[1]
    forged.status = "granted"
    _tamper(
        store.engine,
        "UPDATE ledger SET status = 'granted', hash = :hash WHERE seq = 2",
        hash=row_hash(forged),
    )
    check = store.views.verify_ledger()
    assert check.problem is not None
    assert check.problem.seq == 3
    assert "does not link to row 2" in check.problem.reason


def test_deleted_middle_row_is_named_missing(store: Store) -> None:
    """Deleting a row in the middle makes verify name the missing sequence number."""
    _three_decisions(store)
    _tamper(store.engine, "DELETE FROM ledger WHERE seq = 2")
    check = store.views.verify_ledger()
    assert check.problem is not None
    assert (check.problem.seq, check.rows) == (2, 1)
    assert "missing" in check.problem.reason


def test_deleted_last_row_is_caught_by_the_chain_head(store: Store) -> None:
    """Deleting the newest row is caught: the chain head still records it."""
    _three_decisions(store)
    _tamper(store.engine, "DELETE FROM ledger WHERE seq = 3")
    check = store.views.verify_ledger()
    assert check.problem is not None
    assert check.problem.seq == 3
    assert "missing" in check.problem.reason


def test_truncate_is_refused_on_postgres(store: Store) -> None:
    """PostgreSQL refuses TRUNCATE of the ledger as well."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    _three_decisions(store)
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
        connection.execute(text("TRUNCATE ledger CASCADE"))


def test_concurrent_appends_keep_one_chain(store: Store) -> None:
    """Two writers appending at once still produce one gapless chain that verifies."""

    def flip(record: str, offset: int) -> None:
        link = LinkKey("salesforce", "Contact", record)
        for step in range(6):
            status = Status.DENIED if step % 2 else Status.GRANTED
            ingest(
                store,
                [seen(link, status, offset + step)],
                offset + step + 0.5,
                emails={link: f"{record}@example.com"},
            )

    _in_parallel(lambda: flip("a", 0), lambda: flip("b", 100))
    check = store.views.verify_ledger()
    assert check.ok, check.problem
    assert check.rows == 2 * 6  # every flip is a newer change seen in the record


def test_export_since_filters_by_recording_time(store: Store) -> None:
    """`since` keeps the rows recorded at or after it, in sequence order."""
    _three_decisions(store)
    assert [r.seq for r in store.views.ledger(since=at(3))] == [2, 3]
    assert [r.subject_id for r in store.views.ledger()] == [
        store.views.subject(EMAIL).subject.id
    ] * 3


def test_concurrent_ingests_of_one_subject_do_not_interleave(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers changing the same person at once: every ledger row starts from the state the
    previous row left, so no decision was made against a stale canonical state."""
    real_rule = decide.reconcile

    def slow_rule(*args: Any) -> Resolution:
        time.sleep(0.02)  # widen the window between reading the state and writing the decision
        return real_rule(*args)

    monkeypatch.setattr(decide, "reconcile", slow_rule)

    def flip(link: LinkKey, offset: int) -> None:
        for step in range(6):
            status = Status.DENIED if step % 2 else Status.GRANTED
            ingest(store, [seen(link, status, offset + step)], offset + step + 0.5)

    _in_parallel(lambda: flip(SF, 0), lambda: flip(HS, 10))
    rows = list(store.views.ledger())
    assert store.views.verify_ledger().ok
    assert all(b.previous == a.status for a, b in itertools.pairwise(rows))
    (state,) = store.views.subject(EMAIL).states
    assert state.status == rows[-1].status


def test_a_deleted_chain_head_is_a_verification_failure(store: Store) -> None:
    """With ledger_head's row deleted (triggers dropped), verify reports it instead of crashing."""
    _three_decisions(store)
    _tamper(store.engine, "DELETE FROM ledger_head")
    check = store.views.verify_ledger()
    assert check.problem is not None
    assert check.rows == 3
    assert "the chain head (table ledger_head) is missing" in str(check.problem)


def test_a_chain_head_that_is_not_a_row_number_is_a_verification_failure(store: Store) -> None:
    """SQLite keeps whatever is written: a head whose seq is text is reported as damaged."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's bigint column holds only numbers")
    _three_decisions(store)
    _tamper(store.engine, "UPDATE ledger_head SET seq = 'three'")
    check = store.views.verify_ledger()
    assert check.problem is not None
    assert "the chain head (table ledger_head) is damaged" in str(check.problem)


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("UPDATE consent_state SET ledger_seq = 7", "points at ledger row 7, which is not in"),
        ("UPDATE consent_state SET status = 'denied'", "is denied, but the ledger row it points"),
        ("UPDATE consent_state SET ledger_seq = 2", "is granted, but the ledger row it points"),
        ("UPDATE consent_state SET ledger_seq = NULL", "is granted, but names no ledger row"),
        ("UPDATE consent_state SET purpose = 'phone_calls'", "decided another purpose"),
    ],
)
def test_canonical_states_must_point_at_their_deciding_row(
    store: Store, statement: str, reason: str
) -> None:
    """A canonical state edited outside the store (consent_state has no trigger) no longer
    matches the ledger row that decided it, and verify names the state."""
    _three_decisions(store)
    with store.engine.begin() as connection:
        connection.execute(text(statement))
    check = store.views.verify_ledger()
    assert check.problem is not None
    assert check.rows == 3
    assert "the canonical state of subject" in str(check.problem)
    assert reason in check.problem.reason


def test_deleting_the_newest_rows_behind_the_triggers_leaves_the_state_pointing_past_them(
    store: Store,
) -> None:
    """Triggers dropped, the newest row deleted and the head moved back: the chain alone is
    consistent, but the canonical state still names the deleted row."""
    _three_decisions(store)
    second = list(store.views.ledger())[1]
    with store.engine.begin() as connection:
        if store.engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for name in ("ledger_no_delete", "ledger_head_no_delete", "ledger_head_forward_only"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        connection.execute(text("DELETE FROM ledger WHERE seq = 3"))
        connection.execute(
            text("UPDATE ledger_head SET seq = 2, hash = :hash"), {"hash": second.hash}
        )
    check = store.views.verify_ledger()
    assert check.problem is not None
    assert "points at ledger row 3, which is not in the chain" in str(check.problem)


@pytest.mark.parametrize(
    "damage", ["evidence = 'not json'", "decided_at = 'yesterday'", "recorded_at = 'now'"]
)
def test_a_row_damaged_past_reading_is_named(store: Store, damage: str) -> None:
    """SQLite keeps values no column type can read back: verify names that row, no traceback."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's column types refuse such values")
    _three_decisions(store)
    _tamper(store.engine, f"UPDATE ledger SET {damage} WHERE seq = 2")  # noqa: S608
    check = store.views.verify_ledger()
    assert check.problem is not None
    assert check.problem.seq == 2
    assert "cannot be read: a value was damaged outside consent-sync" in check.problem.reason
