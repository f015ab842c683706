"""Contacts and their email subscription statuses in SQLite: one connection, one lock.

The database is a temporary file with a bounded page cache, so a million contacts cost disk, not
memory; incremental searches use the (modified_ms, id) index and email lookups the email_key index.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from consent_sync_sandbox.hubspot.history import HistoryEntry, PropertyHistory
from consent_sync_sandbox.hubspot.props import (
    SUBSCRIPTIONS,
    now_ms,
    optout_property,
)
from consent_sync_sandbox.hubspot.records import (
    COLUMNS,
    Contact,
    ContactChange,
    StatusState,
    SubscriptionState,
    email_key,
    optout_value,
)
from consent_sync_sandbox.hubspot.seeding import insert_seeded
from consent_sync_sandbox.seed import SeedPerson

_SCHEMA = """
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    email TEXT, email_key TEXT, firstname TEXT, lastname TEXT, phone TEXT,
    sms_consent TEXT, phone_consent TEXT,
    created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL,
    unsub_all INTEGER NOT NULL DEFAULT 0, unsub_all_ms INTEGER,
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE subscriptions (
    contact_id INTEGER NOT NULL, subscription_id INTEGER NOT NULL, status TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL, legal_basis TEXT, legal_basis_explanation TEXT, source TEXT,
    PRIMARY KEY (contact_id, subscription_id)
) WITHOUT ROWID;
"""
_INDEXES = """
CREATE INDEX contacts_modified ON contacts (modified_ms, id);
CREATE INDEX contacts_email ON contacts (email_key);
"""
_SELECT = (
    "SELECT id, email, firstname, lastname, phone, sms_consent, phone_consent, created_ms, "
    "modified_ms, unsub_all, unsub_all_ms, archived FROM contacts"
)


class DuplicateEmailError(Exception):
    """Another contact already holds this email (HubSpot answers 409 CONFLICT)."""

    def __init__(self, existing_id: int) -> None:
        super().__init__(f"Contact already exists. Existing ID: {existing_id}")
        self.existing_id = existing_id


# SQL below is assembled only from the fixed COLUMNS names and compiled search conditions whose
# values are always bound parameters (S608 is suppressed line by line for that reason).


class ContactStore:
    """Thread-safe contact storage; every change bumps `lastmodifieddate` strictly upwards."""

    def __init__(self) -> None:
        fd, self._path = tempfile.mkstemp(prefix="hubspot-sandbox-", suffix=".sqlite")
        os.close(fd)
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        for pragma in ("journal_mode=MEMORY", "synchronous=OFF", "cache_size=-32768"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(_SCHEMA)
        self._history = PropertyHistory(self._db)
        self._lock = threading.RLock()
        self._last_ms = 0
        self._version = 0
        self._count_cache: dict[tuple[str, tuple[object, ...]], tuple[int, int]] = {}
        self.listeners: list[Callable[[list[ContactChange]], None]] = []

    def close(self) -> None:
        """Drop the database file."""
        with self._lock:
            self._db.close()
            os.unlink(self._path)

    # -- seeding -------------------------------------------------------------------------------

    def seed(self, people: Iterable[SeedPerson], n: int) -> None:
        """Insert `n` seeded people, spread over the last 30 days, then build the indexes."""
        with self._lock:
            end = insert_seeded(self._db, people, n)
            self._db.executescript(_INDEXES)
            self._last_ms = max(self._last_ms, end)
            self._version += 1

    # -- reads ---------------------------------------------------------------------------------

    def get(self, contact_id: int, *, archived: bool = False) -> Contact | None:
        """One contact by id (archived ones only when asked for)."""
        with self._lock:
            row = self._db.execute(f"{_SELECT} WHERE id = ?", (contact_id,)).fetchone()
        contact = _contact(row) if row else None
        if contact is None or contact.archived != archived:
            return None
        return contact

    def by_email(self, email: str) -> Contact | None:
        """The live contact holding this email, matched case-insensitively."""
        with self._lock:
            row = self._db.execute(
                f"{_SELECT} WHERE email_key = ? AND archived = 0 ORDER BY id LIMIT 1",
                (email_key(email),),
            ).fetchone()
        return _contact(row) if row else None

    def many(self, ids: Sequence[int]) -> dict[int, Contact]:
        """Live contacts by id; missing and archived ids are simply absent."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._db.execute(
                f"{_SELECT} WHERE id IN ({marks}) AND archived = 0", tuple(ids)
            ).fetchall()
        return {row[0]: _contact(row) for row in rows}

    def page(self, after_id: int, limit: int, *, archived: bool = False) -> list[Contact]:
        """Contacts with id >= `after_id` in id order (the list endpoint's keyset paging)."""
        with self._lock:
            rows = self._db.execute(
                f"{_SELECT} WHERE id >= ? AND archived = ? ORDER BY id LIMIT ?",
                (after_id, int(archived), limit),
            ).fetchall()
        return [_contact(row) for row in rows]

    def search(
        self, where: str, params: tuple[object, ...], order: str, limit: int, offset: int
    ) -> tuple[int, list[Contact]]:
        """Total matches and one page of live contacts; the total is cached until a write."""
        condition = f"archived = 0 AND ({where})"
        with self._lock:
            cached = self._count_cache.get((condition, params))
            if cached is not None and cached[0] == self._version:
                total = cached[1]
            else:
                total = self._db.execute(
                    f"SELECT count(*) FROM contacts WHERE {condition}",  # noqa: S608
                    params,
                ).fetchone()[0]
                if len(self._count_cache) > 256:
                    self._count_cache.clear()
                self._count_cache[(condition, params)] = (self._version, total)
            rows = self._db.execute(
                f"{_SELECT} WHERE {condition} ORDER BY {order} LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
        return total, [_contact(row) for row in rows]

    def subscriptions(self, ids: Sequence[int]) -> dict[int, dict[int, SubscriptionState]]:
        """Subscription states per contact id (subscription types never touched are absent)."""
        result: dict[int, dict[int, SubscriptionState]] = {i: {} for i in ids}
        if not ids:
            return result
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._db.execute(
                "SELECT contact_id, subscription_id, status, timestamp_ms, legal_basis, "  # noqa: S608
                f"legal_basis_explanation, source FROM subscriptions WHERE contact_id IN ({marks})",
                tuple(ids),
            ).fetchall()
        for contact_id, sub_id, status, stamp, basis, explanation, source in rows:
            result[contact_id][sub_id] = SubscriptionState(
                sub_id, status, stamp, basis, explanation, source
            )
        return result

    def recorded_history(
        self, contact_ids: Sequence[int], names: Sequence[str]
    ) -> dict[tuple[int, str], list[HistoryEntry]]:
        """Recorded value changes per (contact, property), newest first."""
        with self._lock:
            return self._history.entries(contact_ids, names)

    # -- writes --------------------------------------------------------------------------------

    def create(self, values: dict[str, str | None], source: str) -> Contact:
        """Insert a contact; raises `DuplicateEmailError` if its email is taken."""
        with self._lock:
            self._check_email_free(values.get("email"), None)
            stamp = self._tick()
            columns = [c for c in COLUMNS if values.get(c) is not None]
            cursor = self._db.execute(
                f"INSERT INTO contacts ({', '.join(columns)}, email_key, created_ms, modified_ms) "  # noqa: S608
                f"VALUES ({', '.join('?' * (len(columns) + 3))})",
                (*(values[c] for c in columns), email_key(values.get("email")), stamp, stamp),
            )
            contact = self._reload(int(cursor.lastrowid or 0))
            for column in columns:
                self._history.record(
                    contact.id,
                    column,
                    None,
                    values[column],
                    ts_ms=stamp,
                    source=source,
                    baseline_ms=stamp,
                )
        changes = [ContactChange("contact.creation", contact.id, stamp, source)]
        changes += [
            ContactChange("contact.propertyChange", contact.id, stamp, source, c, values[c])
            for c in columns
        ]
        self._emit(changes)
        return contact

    def update(self, contact_id: int, values: dict[str, str | None], source: str) -> Contact | None:
        """Set properties of a live contact; None if it does not exist. No-op writes don't bump."""
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise ValueError(f"not writable contact columns: {sorted(unknown)}")
        with self._lock:
            before = self.get(contact_id)
            if before is None:
                return None
            changed = {c: v for c, v in values.items() if getattr(before, c) != v}
            if not changed:
                return before
            if "email" in changed:
                self._check_email_free(changed["email"], contact_id)
            stamp = self._tick()
            assignments = ", ".join(f"{c} = ?" for c in changed)
            self._db.execute(
                f"UPDATE contacts SET {assignments}, email_key = ?, modified_ms = ? WHERE id = ?",  # noqa: S608
                (
                    *changed.values(),
                    email_key(changed.get("email", before.email)),
                    stamp,
                    contact_id,
                ),
            )
            after = self._reload(contact_id)
            for column, value in changed.items():
                self._history.record(
                    contact_id,
                    column,
                    getattr(before, column),
                    value,
                    ts_ms=stamp,
                    source=source,
                    baseline_ms=before.created_ms,
                )
        self._emit(
            [
                ContactChange("contact.propertyChange", contact_id, stamp, source, c, v)
                for c, v in changed.items()
            ]
        )
        return after

    def archive(self, contact_id: int, source: str) -> bool:
        """Archive (delete) a live contact; False if there was none."""
        with self._lock:
            if self.get(contact_id) is None:
                return False
            stamp = self._tick()
            self._db.execute(
                "UPDATE contacts SET archived = 1, modified_ms = ? WHERE id = ?",
                (stamp, contact_id),
            )
            self._version += 1
        self._emit([ContactChange("contact.deletion", contact_id, stamp, source)])
        return True

    def set_status(
        self,
        contact_id: int,
        subscription_id: int,
        status: StatusState,
        *,
        legal_basis: str | None,
        explanation: str | None,
        source: str,
    ) -> tuple[SubscriptionState, bool]:
        """Set one subscription status; return the new state and whether it changed."""
        with self._lock:
            current = self.subscriptions([contact_id])[contact_id].get(subscription_id)
            if current is not None and current.status == status:
                return current, False
            if current is None and status == "NOT_SPECIFIED":
                return SubscriptionState(subscription_id, status), False
            contact = self.get(contact_id)
            if contact is None:
                raise ValueError(f"no live contact {contact_id}")
            lifted = status == "SUBSCRIBED" and contact.unsub_all
            stamp = self._tick()
            self._db.execute(
                "INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (contact_id, subscription_id, status, stamp, legal_basis, explanation, source),
            )
            # Resubscribing lifts an earlier opt-out of all email, as v4 does.
            self._db.execute(
                "UPDATE contacts SET modified_ms = ?, unsub_all = unsub_all AND ? WHERE id = ?",
                (stamp, int(not lifted), contact_id),
            )
            state = SubscriptionState(
                subscription_id, status, stamp, legal_basis, explanation, source
            )
            self._history.record(
                contact_id,
                optout_property(subscription_id),
                optout_value(current),
                optout_value(state),
                ts_ms=stamp,
                source=source,
                baseline_ms=current.timestamp_ms or contact.created_ms if current else stamp,
            )
            if lifted:
                self._history.record(
                    contact_id,
                    "hs_email_optout",
                    "true",
                    "false",
                    ts_ms=stamp,
                    source=source,
                    baseline_ms=contact.unsub_all_ms or contact.created_ms,
                )
        changes = [
            ContactChange(
                "contact.propertyChange",
                contact_id,
                stamp,
                source,
                optout_property(subscription_id),
                optout_value(state),
            )
        ]
        if lifted:
            changes.append(
                ContactChange(
                    "contact.propertyChange", contact_id, stamp, source, "hs_email_optout", "false"
                )
            )
        self._emit(changes)
        return state, True

    def unsubscribe_all(self, contact_id: int, source: str) -> list[SubscriptionState]:
        """Opt a contact out of all email: every subscription type becomes UNSUBSCRIBED."""
        with self._lock:
            states = [
                self.set_status(
                    contact_id,
                    sub.id,
                    "UNSUBSCRIBED",
                    legal_basis=None,
                    explanation=None,
                    source=source,
                )[0]
                for sub in SUBSCRIPTIONS
            ]
            contact = self.get(contact_id)
            if contact is None or contact.unsub_all:
                return states
            stamp = self._tick()
            self._db.execute(
                "UPDATE contacts SET unsub_all = 1, unsub_all_ms = ?, modified_ms = ? WHERE id = ?",
                (stamp, stamp, contact_id),
            )
            self._history.record(
                contact_id,
                "hs_email_optout",
                "false",
                "true",
                ts_ms=stamp,
                source=source,
                baseline_ms=contact.created_ms,
            )
            self._version += 1
        self._emit(
            [
                ContactChange(
                    "contact.propertyChange", contact_id, stamp, source, "hs_email_optout", "true"
                )
            ]
        )
        return states

    # -- internals -----------------------------------------------------------------------------

    def _tick(self) -> int:
        """A modification stamp strictly greater than every one before it (lock held)."""
        self._last_ms = max(now_ms(), self._last_ms + 1)
        self._version += 1
        return self._last_ms

    def _reload(self, contact_id: int) -> Contact:
        row = self._db.execute(f"{_SELECT} WHERE id = ?", (contact_id,)).fetchone()
        return _contact(row)

    def _check_email_free(self, email: str | None, own_id: int | None) -> None:
        if not email:
            return
        other = self.by_email(email)
        if other is not None and other.id != own_id:
            raise DuplicateEmailError(other.id)

    def _emit(self, changes: list[ContactChange]) -> None:
        if changes:
            for listener in self.listeners:
                listener(changes)


def _contact(row: Any) -> Contact:
    cid, email, first, last, phone, sms, phone_ok, created, modified, unsub, unsub_ms, arch = row
    return Contact(
        cid,
        email,
        first,
        last,
        phone,
        sms,
        phone_ok,
        created,
        modified,
        bool(unsub),
        unsub_ms,
        bool(arch),
    )
