"""Identity normalization and matching: how a CRM record finds its subject."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from consent_sync.errors import ConsentSyncError


class IdentityError(ConsentSyncError, ValueError):
    """A match key that cannot identify anyone; the message says why."""


# Local part: anything but whitespace, '@' and control characters (CRMs hold quotes, plus
# signs, apostrophes and unicode); domain: dot-separated labels of letters, digits and hyphens.
_LOCAL = re.compile(r"^[^\s@\x00-\x1f\x7f]{1,64}$")
_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$", re.UNICODE)


def normalize_email(raw: str) -> str:
    """Trim, NFC-normalize and lower-case an email address; raise IdentityError if it is not one."""
    if not isinstance(raw, str):
        raise IdentityError(f"email must be text, got {type(raw).__name__}")
    email = unicodedata.normalize("NFC", raw.strip()).lower()
    if not email:
        raise IdentityError("email is empty")
    if len(email) > 254:
        raise IdentityError("email is longer than 254 characters")
    local, at, domain = email.rpartition("@")
    if not at:
        raise IdentityError("email has no '@'")
    if not local:
        raise IdentityError("email has nothing before '@'")
    if not _LOCAL.match(local):
        raise IdentityError("email's local part has spaces, control characters or an extra '@'")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise IdentityError("email's local part has a misplaced '.'")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise IdentityError("email's domain is not a domain name")
    return email


def try_normalize_email(raw: object) -> str | None:
    """`normalize_email`, or None when the value is missing or not an email."""
    if raw is None or not isinstance(raw, str):
        return None
    try:
        return normalize_email(raw)
    except IdentityError:
        return None


_PHONE_JUNK = re.compile(r"[\s().\-/]")


def normalize_phone(raw: str, default_country_code: str = "1") -> str:
    """Reduce a phone number to E.164 (`+` and 8-15 digits); raise IdentityError otherwise."""
    digits = _PHONE_JUNK.sub("", raw.strip())
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        digits = f"+{default_country_code}{digits.lstrip('0')}"
    if not re.fullmatch(r"\+[1-9]\d{7,14}", digits):
        raise IdentityError("phone is not a valid E.164 number")
    return digits


def redact_email(email: str) -> str:
    """A log-safe form of an email: first character and domain, e.g. `a***@example.com`."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


@dataclass(frozen=True, slots=True)
class MatchKeys:
    """What a record offers to find its subject by, already normalized."""

    email: str | None = None
    phone: str | None = None

    @property
    def matchable(self) -> bool:
        return self.email is not None
