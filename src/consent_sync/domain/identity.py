"""Identity normalization and matching: how a CRM record finds its subject.

An email is a person's match key, so two spellings that look alike must not name two people:
characters nobody can see (zero-width spaces and joiners, byte-order marks), that reorder how
text reads (bidirectional overrides) or that no font prints are refused with the reason, never
silently kept or dropped (docs/design.md, "Identity").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from consent_sync.domain.model import Conflict, ConflictKind, LinkKey
from consent_sync.errors import ConsentSyncError

#: The rules of `identity_ambiguous` conflicts: a refused email, and an email change that would
#: join a record to another subject.
EMAIL_REFUSED = "identity:email_refused"
EMAIL_JOINS_OTHER = "identity:email_joins_other_subject"


class IdentityError(ConsentSyncError, ValueError):
    """A match key that cannot identify anyone; the message says why."""


# Local part: anything but whitespace, '@' and control characters (CRMs hold quotes, plus
# signs, apostrophes and unicode); domain: dot-separated labels of letters, digits and hyphens.
_LOCAL = re.compile(r"^[^\s@\x00-\x1f\x7f]{1,64}$")
_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$", re.UNICODE)

#: Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): characters a
#: renderer shows as nothing, some of them letters or marks by category (fillers, variation
#: selectors, the combining grapheme joiner), so the categories below do not catch them all.
_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
#: What each refused Unicode category is, in the refusal's words.
_REFUSED_CATEGORIES = {
    "Cf": "an invisible format character",
    "Cc": "a control character",
    "Cs": "a surrogate code point",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zs": "a space character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def _refused_character(text: str) -> str | None:
    """Why `text` cannot be a match key, naming its first invisible or control character."""
    if text.isascii() and text.isprintable():
        return None  # printable ASCII holds none of them (the common case, checked in C)
    for char in text:
        if char == " ":
            continue  # an ordinary space gets the local part's own message
        category = unicodedata.category(char)
        what = _REFUSED_CATEGORIES.get(category)
        point = ord(char)
        if what is None and any(low <= point <= high for low, high in _IGNORABLE):
            what = "an invisible character"
        if what is not None:
            name = unicodedata.name(char, "")
            label = f"U+{point:04X} {name}" if name else f"U+{point:04X}"
            return f"email contains {what} ({label})"
    return None


def normalize_email(raw: str) -> str:
    """Trim, NFC-normalize and lower-case an email address; raise IdentityError if it is not one."""
    if not isinstance(raw, str):
        raise IdentityError(f"email must be text, got {type(raw).__name__}")
    email = unicodedata.normalize("NFC", raw.strip())
    if not email:
        raise IdentityError("email is empty")
    refused = _refused_character(email)
    if refused is not None:
        raise IdentityError(refused)
    email = email.lower()
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
    return read_email(raw)[0]


def read_email(raw: object) -> tuple[str | None, str | None]:
    """A record's email field as (match key, why it was refused).

    (None, None) when the record has no email (missing, or blank); (None, reason) when it holds
    something that is not an email, e.g. one with a zero-width space in it.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    if not isinstance(raw, str):
        return None, f"email must be text, got {type(raw).__name__}"
    try:
        return normalize_email(raw), None
    except IdentityError as exc:
        return None, str(exc)


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
    refused: str | None = None  # why the record's email was refused: nobody is found by it

    @property
    def matchable(self) -> bool:
        return self.email is not None


def refused_email(link: LinkKey, reason: str) -> Conflict:
    """The record holds an email nobody can be found by: it is not linked by it (needs review)."""
    return Conflict(
        ConflictKind.IDENTITY_AMBIGUOUS,
        "",
        (),
        EMAIL_REFUSED,
        f"{link} holds an email that was refused ({reason}); the record is not matched by it",
        link=link,
        detail={"reason": reason},
    )


def email_joins_other(
    link: LinkKey,
    *,
    previous: str | None,
    email: str,
    other_subject: str,
    other_records: list[str],
) -> Conflict:
    """A linked record's new email belongs to another subject: it stays where it was until a
    human says whether it is that person (merge) or not (keep apart).

    The detail keeps both emails for the store; the message, which listings print, redacts them.
    """
    others = ", ".join(other_records) if other_records else "no active record"
    return Conflict(
        ConflictKind.IDENTITY_AMBIGUOUS,
        "",
        (),
        EMAIL_JOINS_OTHER,
        f"{link} changed its email to {redact_email(email)}, which belongs to another subject "
        f"({others}); the record stays with its subject until resolved with --merge or "
        "--keep-apart",
        link=link,
        detail={
            "email": email,
            "previous_email": previous,
            "other_subject": other_subject,
            "other_records": sorted(other_records),
        },
    )
