"""`bulk.executemany` stores exactly what SQLAlchemy's own execution stores, on both databases.

Rows written through the compiled-once path and the same rows written through
`session.execute` must read back identical, down to the text SQLite keeps (the ledger's
hashes, the timestamps' sort order and every later read depend on it).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from consent_sync.store import Store
from consent_sync.store.bulk import executemany
from consent_sync.store.db import write_session
from consent_sync.store.tables import CONSENT_STATE, SUBJECTS
from consent_sync.store.types import NaiveTimestampError

MOMENTS = [
    datetime(2026, 3, 1, 12, 0, tzinfo=UTC),  # no microseconds: still written with them
    datetime(2026, 3, 1, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),  # another zone
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]


def _subjects(tag: str) -> list[dict[str, Any]]:
    return [
        {"id": uuid.uuid4(), "email": f"{tag}{n}@example.com", "created_at": moment}
        for n, moment in enumerate(MOMENTS)
    ]


def _states(subjects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "subject_id": subject["id"],
            "purpose": "email_marketing",
            "status": "denied",
            "decided_at": subject["created_at"] if n else None,
            "time_kind": "record_modified",
            "source": "salesforce",
            "imported": bool(n % 2),
            "ledger_seq": n + 1,
            "updated_at": MOMENTS[-1 - n],
        }
        for n, subject in enumerate(subjects)
    ]


def _stored(store: Store, table: str, where: str, order: str) -> list[tuple[Any, ...]]:
    """What the database holds, as text on SQLite (what sorts and hashes), else as values."""
    with store.engine.connect() as connection:
        shown = "*"
        if store.engine.dialect.name == "sqlite":
            info = connection.exec_driver_sql(f"PRAGMA table_info({table})")
            shown = ", ".join(f"quote({row[1]})" for row in info)
        query = f"SELECT {shown} FROM {table} WHERE {where} ORDER BY {order}"  # noqa: S608
        return [tuple(row) for row in connection.execute(text(query))]


def _of(prefix: str) -> str:
    return f"subject_id IN (SELECT id FROM subjects WHERE email LIKE '{prefix}%')"  # noqa: S608


def test_rows_written_either_way_are_stored_the_same(store: Store) -> None:
    """Subjects and canonical states (uuids, text, zoned timestamps, booleans, NULLs) read
    back identical whether SQLAlchemy executed them per row or `executemany` did."""
    bulk, plain = _subjects("bulk"), _subjects("plain")
    with write_session(store.engine) as session:
        executemany(session, "test subjects", lambda: insert(SUBJECTS), bulk)
        session.execute(insert(SUBJECTS), plain)
        executemany(session, "test states", lambda: insert(CONSENT_STATE), _states(bulk))
        session.execute(insert(CONSENT_STATE), _states(plain))
    mine = _stored(store, "subjects", "email LIKE 'bulk%'", "created_at")
    theirs = _stored(store, "subjects", "email LIKE 'plain%'", "created_at")
    assert len(mine) == len(MOMENTS)
    assert [row[2:] for row in mine] == [row[2:] for row in theirs]  # id and email differ
    mine = _stored(store, "consent_state", _of("bulk"), "ledger_seq")
    theirs = _stored(store, "consent_state", _of("plain"), "ledger_seq")
    assert len(mine) == len(MOMENTS)
    assert [row[1:] for row in mine] == [row[1:] for row in theirs]  # the subject differs
    with store.engine.connect() as connection:
        read = connection.execute(
            select(SUBJECTS.c.id, SUBJECTS.c.created_at).where(SUBJECTS.c.email.like("bulk%"))
        ).all()
    assert {row.id for row in read} == {subject["id"] for subject in bulk}
    assert sorted(row.created_at for row in read) == sorted(MOMENTS)


def test_an_upsert_updates_only_the_named_columns(store: Store) -> None:
    """ON CONFLICT DO UPDATE through `executemany` changes what it names and keeps the rest."""
    subjects = _subjects("upsert")
    with write_session(store.engine) as session:
        executemany(session, "test subjects", lambda: insert(SUBJECTS), subjects)
        executemany(session, "test states", lambda: insert(CONSENT_STATE), _states(subjects))
    changed = [{**row, "status": "granted", "source": "hubspot"} for row in _states(subjects)]
    dialect = store.engine.dialect.name

    def build() -> Any:
        statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(CONSENT_STATE)
        return statement.on_conflict_do_update(
            index_elements=("subject_id", "purpose"), set_={"status": statement.excluded.status}
        )

    with write_session(store.engine) as session:
        executemany(session, "test upsert", build, changed)
    with store.engine.connect() as connection:
        rows = connection.execute(select(CONSENT_STATE.c.status, CONSENT_STATE.c.source)).all()
    assert {tuple(row) for row in rows} == {("granted", "salesforce")}


def test_a_naive_timestamp_is_refused_and_nothing_is_written(store: Store) -> None:
    """The compiled-once path refuses a timestamp without a zone, as the column type does."""
    naive = [{"id": uuid.uuid4(), "email": "naive@example.com", "created_at": datetime(2026, 3, 1)}]
    with pytest.raises(NaiveTimestampError), write_session(store.engine) as session:
        executemany(session, "test subjects", lambda: insert(SUBJECTS), naive)
    with store.engine.connect() as connection:
        assert connection.execute(select(SUBJECTS.c.id)).all() == []


def test_every_row_must_name_the_same_columns(store: Store) -> None:
    """A row missing a value is an error, never a NULL written in its place."""
    rows = _subjects("short")
    del rows[1]["created_at"]
    with pytest.raises(KeyError), write_session(store.engine) as session:
        executemany(session, "test subjects", lambda: insert(SUBJECTS), rows)
