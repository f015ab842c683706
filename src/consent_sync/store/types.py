"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from consent_sync.errors import ConsentSyncError

#: 64-bit ids on PostgreSQL; SQLite only auto-increments an `INTEGER PRIMARY KEY`.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class NaiveTimestampError(ConsentSyncError, ValueError):
    """A timestamp without a timezone reached the store; its meaning would be a guess."""


def utc(value: datetime) -> datetime:
    """The same instant in UTC; refuses naive datetimes."""
    if value.tzinfo is None:
        raise NaiveTimestampError(f"timestamp {value.isoformat()} has no timezone")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out: `timestamptz` on PostgreSQL, ISO text in UTC on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        # SQLite keeps text: store every instant in UTC without an offset so it sorts as time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
