"""The anchored ledger: the chain head moves only forward, rows cannot be replaced, and an
anchor kept outside the database proves nothing was cut off or rewritten since."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from consent_sync.domain.model import Status
from consent_sync.store import Store
from consent_sync.store.db import read_session
from consent_sync.store.ledger import Anchor, LedgerCheck, row_hash, verify
from consent_sync.store.tables import GENESIS_HASH, LedgerRow
from support.store_builders import SF, ingest, seen

HEAD_REFUSED = "ledger head"


def _three_decisions(store: Store) -> None:
    ingest(store, [seen(SF, Status.GRANTED, 0)], 1)
    ingest(store, [seen(SF, Status.DENIED, 2)], 3)
    ingest(store, [seen(SF, Status.GRANTED, 4)], 5)


def _rows(store: Store) -> list[LedgerRow]:
    return list(store.views.ledger())


def _check(store: Store, expect: Anchor | None = None) -> LedgerCheck:
    with read_session(store.engine) as session:
        return verify(session, expect)


def _as_attacker(engine: Engine, *statements: str, **params: object) -> None:
    """Run `statements` with every trigger out of the way, as someone with the database's
    superuser (PostgreSQL) or write access to its file (SQLite) could."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            triggers = connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
            for name in list(triggers):
                connection.execute(text(f'DROP TRIGGER "{name}"'))
        for statement in statements:
            connection.execute(text(statement), params)


def _refused(store: Store, statement: str, match: str, **params: object) -> None:
    with pytest.raises(DBAPIError, match=match), store.engine.begin() as connection:
        connection.execute(text(statement), params)


def _cut_off_the_newest_row(store: Store) -> None:
    """Delete row 3 and move the chain head and the canonical state back onto row 2."""
    second = _rows(store)[1]
    _as_attacker(
        store.engine,
        "DELETE FROM ledger WHERE seq = 3",
        "UPDATE ledger_head SET seq = 2, hash = :hash",
        "UPDATE consent_state SET ledger_seq = 2, status = 'denied'",
        hash=second.hash,
    )


def test_the_chain_head_cannot_be_deleted(store: Store) -> None:
    """DELETE of the chain head is refused by the database, and the chain still verifies."""
    _three_decisions(store)
    _refused(store, "DELETE FROM ledger_head", HEAD_REFUSED)
    assert store.views.verify_ledger().ok


def test_the_chain_head_cannot_move_back(store: Store) -> None:
    """Moving the chain head back onto an older row (truncation's cover-up) is refused."""
    _three_decisions(store)
    second = _rows(store)[1]
    _refused(store, "UPDATE ledger_head SET seq = 2, hash = :hash", HEAD_REFUSED, hash=second.hash)
    _refused(store, "UPDATE ledger_head SET seq = 0, hash = :hash", HEAD_REFUSED, hash=GENESIS_HASH)
    assert store.views.verify_ledger().rows == 3


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_head SET seq = 3, hash = :bogus",  # a hash that is not row 3's
        "UPDATE ledger_head SET seq = 3, hash = :second",  # row 2's hash at row 3's seq
        "UPDATE ledger_head SET seq = 4, hash = :bogus",  # a row that does not exist
        "UPDATE ledger_head SET id = 2",  # another row id
    ],
)
def test_the_chain_head_takes_only_the_newest_rows_hash(store: Store, statement: str) -> None:
    """The head may only name the newest ledger row with that row's own hash."""
    _three_decisions(store)
    _refused(
        store,
        statement,
        HEAD_REFUSED,
        bogus="f" * 64,
        second=_rows(store)[1].hash,
    )
    assert store.views.verify_ledger().ok


def test_a_second_chain_head_cannot_be_inserted(store: Store) -> None:
    """INSERT into ledger_head is refused: its one row is made by the schema."""
    _refused(
        store,
        "INSERT INTO ledger_head (id, seq, hash) VALUES (2, 0, :genesis)",
        HEAD_REFUSED,
        genesis=GENESIS_HASH,
    )


def test_the_chain_head_cannot_be_replaced_or_upserted(store: Store) -> None:
    """SQLite's INSERT OR REPLACE and PostgreSQL's upsert cannot reset the head either."""
    _three_decisions(store)
    if store.engine.dialect.name == "postgresql":
        statement = (
            "INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, :genesis) "
            "ON CONFLICT (id) DO UPDATE SET seq = 0, hash = :genesis"
        )
    else:
        statement = "INSERT OR REPLACE INTO ledger_head (id, seq, hash) VALUES (1, 0, :genesis)"
    _refused(store, statement, HEAD_REFUSED, genesis=GENESIS_HASH)
    assert store.views.verify_ledger().rows == 3


def test_truncating_the_chain_head_is_refused_on_postgres(store: Store) -> None:
    """PostgreSQL refuses TRUNCATE of ledger_head."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    _refused(store, "TRUNCATE ledger_head", HEAD_REFUSED)


def test_insert_or_replace_cannot_rewrite_a_ledger_row(store: Store) -> None:
    """A row cannot be replaced: SQLite's REPLACE deletes without firing delete triggers, so an
    insert onto an existing seq or hash is refused; on PostgreSQL an upsert is an UPDATE."""
    _three_decisions(store)
    copy = (
        "SELECT {seq}, subject_id, purpose, 'granted', previous, decided_at, time_kind, "
        "recorded_at, source, link, rule, evidence, prev_hash, {hash} FROM ledger WHERE seq = 2"
    )
    columns = (
        "seq, subject_id, purpose, status, previous, decided_at, time_kind, recorded_at, "
        "source, link, rule, evidence, prev_hash, hash"
    )
    if store.engine.dialect.name == "postgresql":
        statements = [
            f"INSERT INTO ledger ({columns}) {copy.format(seq='seq', hash='hash')} "
            "ON CONFLICT (seq) DO UPDATE SET status = 'granted'"
        ]
        match = "append-only"
    else:
        statements = [  # the same seq; then a new seq whose hash collides with row 2's
            f"INSERT OR REPLACE INTO ledger ({columns}) {copy.format(seq='seq', hash='hash')}",
            f"INSERT OR REPLACE INTO ledger ({columns}) {copy.format(seq='99', hash='hash')}",
        ]
        match = "append-only"
    for statement in statements:
        _refused(store, statement, match)
    assert [row.status for row in _rows(store)] == ["granted", "denied", "granted"]
    assert store.views.verify_ledger().ok


def test_appends_still_move_the_head_forward(store: Store) -> None:
    """The store's own appends pass the guard: each decision moves the head onto its row."""
    _three_decisions(store)
    ingest(store, [seen(SF, Status.DENIED, 6)], 7)
    check = store.views.verify_ledger()
    assert (check.ok, check.rows) == (True, 4)
    assert check.head == Anchor(4, _rows(store)[-1].hash)


def test_the_anchor_verifies_while_the_chain_grows(store: Store) -> None:
    """An anchor taken earlier still verifies once more rows were appended after it."""
    _three_decisions(store)
    anchor = store.views.verify_ledger().head
    ingest(store, [seen(SF, Status.DENIED, 6)], 7)
    check = _check(store, anchor)
    assert (check.ok, check.rows) == (True, 4)


def test_the_genesis_anchor_verifies_an_empty_ledger(store: Store) -> None:
    """`0:000…` is the head of an empty ledger, and a valid anchor for any chain."""
    assert store.views.verify_ledger().head == Anchor(0, GENESIS_HASH)
    assert _check(store, Anchor(0, GENESIS_HASH)).ok
    assert not _check(store, Anchor(0, "f" * 64)).ok


def test_truncation_behind_every_trigger_is_caught_by_the_anchor(store: Store) -> None:
    """Triggers dropped, the newest row deleted, the head and the state moved back: the chain is
    consistent again and verifies alone, but not against the anchor taken before."""
    _three_decisions(store)
    anchor = store.views.verify_ledger().head
    _cut_off_the_newest_row(store)
    assert store.views.verify_ledger().ok  # nothing inside the database can tell
    check = _check(store, anchor)
    assert check.problem is not None
    assert check.problem.seq == 3
    assert "the chain ends at row 2" in check.problem.reason
    assert str(anchor) in check.problem.reason


def test_rewriting_with_rehashing_is_caught_by_the_anchor(store: Store) -> None:
    """A denial turned into a grant with every later hash recomputed and the head moved along
    verifies alone, but the anchored row's hash no longer matches."""
    _three_decisions(store)
    anchor = store.views.verify_ledger().head
    rows = _rows(store)
    rows[1].status = "granted"
    rows[1].hash = row_hash(rows[1])
    rows[2].prev_hash = rows[1].hash
    rows[2].hash = row_hash(rows[2])
    _as_attacker(
        store.engine,
        "UPDATE ledger SET status = 'granted', hash = :h2 WHERE seq = 2",
        "UPDATE ledger SET prev_hash = :h2, hash = :h3 WHERE seq = 3",
        "UPDATE ledger_head SET hash = :h3",
        h2=rows[1].hash,
        h3=rows[2].hash,
    )
    assert store.views.verify_ledger().ok
    check = _check(store, anchor)
    assert check.problem is not None
    assert check.problem.seq == 3
    assert "differs from the anchored head" in check.problem.reason


def test_an_anchor_of_another_chain_is_refused(store: Store) -> None:
    """A SEQ:HASH that names no row of this chain does not verify."""
    _three_decisions(store)
    check = _check(store, Anchor(2, "a" * 64))
    assert check.problem is not None
    assert check.problem.seq == 2


def test_verification_reads_one_snapshot_while_decisions_are_appended(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decision committed while verify walks the chain is not reported as a missing row."""
    from consent_sync.store import ledger

    _three_decisions(store)
    real_entries = ledger.entries

    def entries_then_an_append(*args: Any, **kwargs: Any) -> Iterator[LedgerRow]:
        yield from real_entries(*args, **kwargs)
        ingest(store, [seen(SF, Status.DENIED, 6)], 7)  # committed by another connection

    monkeypatch.setattr(ledger, "entries", entries_then_an_append)
    check = _check(store)
    monkeypatch.undo()
    assert (check.ok, check.rows) == (True, 3), check.problem
    assert store.views.verify_ledger().rows == 4
