"""Console sessions: a token checked once at sign-in, then an opaque cookie.

The session lives in this process's memory (a restart signs everyone out, which is the safe
direction). It keeps the token so every request re-checks it against the store: a token revoked
with `consent-sync token revoke` ends its sessions at their next request. The cookie holds only a
random session id (HttpOnly, SameSite=Strict, Secure when served over TLS). Each session has its
own CSRF token, which every form carries and every POST must return.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from consent_sync.store.tokens import Scope

SESSION_COOKIE = "consent_sync_console"
LOGIN_COOKIE = "consent_sync_console_login"  # the sign-in form's CSRF token, before a session
IDLE = timedelta(hours=8)
LIFETIME = timedelta(hours=24)
MAX_SESSIONS = 1000  # the oldest is signed out past this


@dataclass
class Session:
    """One signed-in browser."""

    id: str
    token: str
    name: str
    scope: Scope
    csrf: str
    created_at: datetime
    seen_at: datetime

    @property
    def can_write(self) -> bool:
        """Whether this session may resolve conflicts and retry dead letters."""
        return self.scope.covers(Scope.WRITE)

    def csrf_ok(self, presented: str | None) -> bool:
        """Whether a form returned this session's CSRF token (in constant time)."""
        return csrf_equal(self.csrf, presented)


def csrf_equal(expected: str | None, presented: str | None) -> bool:
    """Both present and equal, compared in constant time."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class Sessions:
    """The signed-in browsers of this process, safe to use from every request thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def create(self, token: str, name: str, scope: Scope, now: datetime) -> Session:
        """A new session for a token that just authenticated."""
        session = Session(new_secret(), token, name, scope, new_secret(), now, now)
        with self._lock:
            self._by_id[session.id] = session
            while len(self._by_id) > MAX_SESSIONS:
                self._by_id.popitem(last=False)
        return session

    def get(self, session_id: str | None, now: datetime) -> Session | None:
        """The live session with this id; None if none, idle too long or too old."""
        if not session_id:
            return None
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None:
                return None
            if now - session.seen_at > IDLE or now - session.created_at > LIFETIME:
                del self._by_id[session_id]
                return None
            session.seen_at = now
            self._by_id.move_to_end(session_id)
            return session

    def drop(self, session_id: str | None) -> None:
        """Sign a session out (nothing if it is not there)."""
        if session_id:
            with self._lock:
                self._by_id.pop(session_id, None)
