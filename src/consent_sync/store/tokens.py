"""API tokens and idempotency keys (`store.tokens`): who may call /api/v1, and requests that
must record once however often they are retried.

A token is shown once, when created; the store keeps only its SHA-256 hash (a token is 256
random bits, so a fast hash is enough: there is nothing to brute-force). Checking a presented
token compares its hash with every live token's in constant time, without stopping at a match.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from consent_sync.domain.identity import normalize_email
from consent_sync.domain.model import Observation, Purpose, Targets
from consent_sync.store import links
from consent_sync.store.db import Transactions
from consent_sync.store.decide import Applied, apply, refuse_blocked
from consent_sync.store.errors import StoreError
from consent_sync.store.tables import ApiTokenRow, IdempotencyKeyRow
from consent_sync.store.types import utc

#: How long an Idempotency-Key answers a retry; after that the hourly housekeeping forgets it.
KEEP_KEYS = timedelta(hours=24)
TOKEN_PREFIX = "cst_"  # noqa: S105 - a prefix that marks our tokens, not a secret
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Scope(StrEnum):
    """What a token may do; each scope includes the ones before it."""

    READ = "read"  # look: subjects, conflicts, runs, systems, dead letters, metrics
    WRITE = "write"  # record decisions, resolve conflicts
    ADMIN = "admin"  # operate: retry dead letters

    def covers(self, needed: Scope) -> bool:
        """Whether a token of this scope may call a route that needs `needed`."""
        order = list(Scope)
        return order.index(self) >= order.index(needed)


class TokenNameError(StoreError, ValueError):
    """A token name that is not 1-64 letters, digits, `_`, `.` or `-`."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"token name {name!r} must be 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )


class TokenExistsError(StoreError):
    """A live token already has this name (revoke it first)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a token named {name!r} exists; revoke it first")


class TokenNotFoundError(StoreError):
    """No live token has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no live token named {name!r}")


class IdempotencyKeyReusedError(StoreError):
    """An `Idempotency-Key` sent again with a different request body."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__("this Idempotency-Key was used with a different request body")


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never the token itself."""

    name: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None


def token_hash(token: str) -> str:
    """The SHA-256 hex digest the store keeps of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(row.name, Scope(row.scope), row.created_at, row.revoked_at)


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def claim_key(
    session: Session, token_name: str, key: str, request_hash: str, now: datetime
) -> IdempotencyKeyRow | None:
    """Take `key` for this request; the earlier request's row if the key was used already.

    One atomic insert: on PostgreSQL a concurrent request with the same key waits here until
    the first commits (then sees its answer) or rolls back (then takes the key itself).
    """
    table: Any = IdempotencyKeyRow.__table__  # type: ignore[attr-defined]
    statement = (
        _insert(session)(table)
        .values(
            token_name=token_name, key=key, request_hash=request_hash, response={}, created_at=now
        )
        .on_conflict_do_nothing(index_elements=["token_name", "key"])
        .returning(table.c.key)
    )
    if session.execute(statement).first() is not None:
        return None
    return session.get(IdempotencyKeyRow, (token_name, key))


class Tokens:
    """API tokens and idempotent decisions (`store.tokens`), each method one transaction."""

    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    def create(self, name: str, scope: Scope, now: datetime) -> str:
        """A new token for `name` with `scope`; returns the token, which is not kept anywhere."""
        if not NAME_PATTERN.match(name):
            raise TokenNameError(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._transactions.write() as session:
            live = session.exec(
                select(ApiTokenRow.id).where(
                    ApiTokenRow.name == name, col(ApiTokenRow.revoked_at).is_(None)
                )
            ).first()
            if live is not None:
                raise TokenExistsError(name)
            session.add(
                ApiTokenRow(
                    name=name, scope=scope.value, token_hash=token_hash(token), created_at=utc(now)
                )
            )
        return token

    def list(self) -> list[TokenInfo]:
        """Every token, live and revoked, by name then age."""
        with self._transactions.read() as session:
            rows = session.exec(
                select(ApiTokenRow).order_by(col(ApiTokenRow.name), col(ApiTokenRow.id))
            )
            return [_info(row) for row in rows]

    def revoke(self, name: str, now: datetime) -> None:
        """Revoke the live token called `name`; TokenNotFoundError if there is none."""
        with self._transactions.write() as session:
            row = session.exec(
                select(ApiTokenRow).where(
                    ApiTokenRow.name == name, col(ApiTokenRow.revoked_at).is_(None)
                )
            ).first()
            if row is None:
                raise TokenNotFoundError(name)
            row.revoked_at = utc(now)
            session.add(row)

    def authenticate(self, token: str) -> TokenInfo | None:
        """The live token this is, or None; compared in constant time against every live one."""
        presented = token_hash(token).encode()
        with self._transactions.read() as session:
            rows = session.exec(select(ApiTokenRow).where(col(ApiTokenRow.revoked_at).is_(None)))
            found = None
            for row in rows:
                if hmac.compare_digest(presented, row.token_hash.encode()):
                    found = _info(row)
        return found

    def prune_keys(self, now: datetime, keep: timedelta = KEEP_KEYS) -> int:
        """Forget idempotency keys older than `keep` (a retry after that records again)."""
        with self._transactions.write() as session:
            result = session.execute(
                delete(IdempotencyKeyRow).where(col(IdempotencyKeyRow.created_at) < utc(now) - keep)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def record_once(
        self,
        *,
        token_name: str,
        key: str,
        request_hash: str,
        email: str,
        observation: Observation,
        purposes: Mapping[str, Purpose],
        now: datetime,
        targets: Targets | None,
        answer: Callable[[Applied], dict[str, Any]],
    ) -> tuple[dict[str, Any], bool]:
        """`Decisions.record` under an idempotency key: (the answer, whether it is a replay).

        The key, the decision and its answer commit together: a retry of the same request
        gets the first answer and records nothing; the same key with another body raises
        IdempotencyKeyReusedError; a refused decision keeps no key, so it can be retried.
        """
        now = utc(now)
        with self._transactions.write() as session:
            earlier = claim_key(session, token_name, key, request_hash, now)
            if earlier is not None:
                if not hmac.compare_digest(earlier.request_hash, request_hash):
                    raise IdempotencyKeyReusedError(key)
                return dict(earlier.response), True
            subject_id = links.subject_for_email(session, normalize_email(email), now)
            applied = apply(session, subject_id, [(observation, None)], purposes, now, targets)
            refuse_blocked(applied)  # rolls back the key with the decision
            response = answer(applied)
            row = session.get(IdempotencyKeyRow, (token_name, key))
            if row is None:
                raise RuntimeError("the idempotency key vanished inside its own transaction")
            row.response = response
            session.add(row)
            return response, False
