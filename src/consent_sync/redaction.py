"""Redaction of what consent-sync prints and logs: secrets hidden, emails as keyed pseudonyms.

`consent_sync.logs` applies it to every log line; commands that print a CRM's own words (a
run's error in `status`) call `redact_text` directly. It needs nothing but the standard
library, so a read command that prints one redacted line does not load structlog (its start-up
is measured: docs/performance.md). What is hidden, and the pseudonyms' key, are described in
`consent_sync.logs`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Mapping
from urllib.parse import unquote

#: The environment variable holding the key of the email pseudonyms in log lines.
LOG_KEY_ENV = "CONSENT_SYNC_LOG_KEY"
# `consent_sync.store.URL_ENV` and its default, named again so logging needs no SQLAlchemy.
_DATABASE_URL_ENV, _DEFAULT_DATABASE_URL = "CONSENT_SYNC_DATABASE_URL", "sqlite:///consent-sync.db"

# Local parts may hold apostrophes (o'brien@...): over-redacting a quote is the safe side. A URL's
# query separators end a local part and a domain, so `?email=a%40b.com&x=1` hashes `a@b.com`.
_EMAIL = re.compile(
    r"[^\s@\"<>(),;:=&?/#*]+(?:@|%40)[^\s@\"'<>(),;:=&?/#%]+\.[^\s@\"'<>(),;:=&?/#%]+"
)
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
_BEARER = re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE)
_SECRET_ENV = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSWD|KEY)$", re.IGNORECASE)
_MIN_SECRET = 6  # shorter values would mask ordinary words


class _Redactor:
    """What is hidden from log lines: known secret values, and emails as keyed pseudonyms."""

    def __init__(self, key: bytes, secrets: list[str]) -> None:
        self.key = key
        # Longest first, so a secret containing another is hidden whole.
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def pseudonym(self, address: str) -> str:
        """`<email:xxxxxxxx>`: the same address (any case, URL-encoded or not) gives the same."""
        # A quote before the address (`'ada@example.com'`) is matched with it, not part of it.
        normalized = unicodedata.normalize("NFC", unquote(address)).strip().lstrip("'").lower()
        digest = hmac.new(self.key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"<email:{digest[:8]}>"

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, "***")
        value = _URL_CREDENTIALS.sub(r"\1***@", value)
        value = _BEARER.sub(lambda m: f"{m.group(1)} ***", value)
        return _EMAIL.sub(lambda m: self.pseudonym(m.group(0)), value)


def _environment_redactor(environ: Mapping[str, str]) -> _Redactor:
    key = environ.get(LOG_KEY_ENV)
    if key:
        secret = key.encode("utf-8")
    else:
        url = environ.get(_DATABASE_URL_ENV) or _DEFAULT_DATABASE_URL
        secret = hashlib.sha256(b"consent-sync log pseudonyms\0" + url.encode("utf-8")).digest()
    secrets = [
        value
        for name, value in environ.items()
        if _SECRET_ENV.search(name) and len(value) >= _MIN_SECRET
    ]
    return _Redactor(secret, secrets)


_redactor = _environment_redactor(os.environ)


def refresh_redaction() -> None:
    """Read the secrets and the pseudonym key from the environment again (logging set-up)."""
    global _redactor
    _redactor = _environment_redactor(os.environ)


def redact_text(text: str) -> str:
    """`text` as a log line would show it: secrets hidden, emails as `<email:...>` pseudonyms.

    For what commands print from elsewhere (a CRM's error message may name a person).
    """
    return _redactor.text(text)
