"""Identity normalization: how a CRM record's email and phone become match keys."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_sync.domain.identity import (
    IdentityError,
    normalize_email,
    normalize_phone,
    read_email,
    redact_email,
    try_normalize_email,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"),
        ("o'brien@x.com", "o'brien@x.com"),
        ("first+news@example.org", "first+news@example.org"),
        ("back\\slash@example.com", "back\\slash@example.com"),
        (unicodedata.normalize("NFD", "Zoë@Exämple.de"), "zoë@exämple.de"),
    ],
)
def test_normalizes_case_space_and_unicode_form(raw, expected):
    """Emails are trimmed, lower-cased and NFC-normalized; quotes and plus signs are kept."""
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("no-at-sign.example.com", "no '@'"),
        ("@example.com", "nothing before"),
        ("a b@example.com", "spaces"),
        ("a@@example.com", "extra '@'"),
        (".a@example.com", "misplaced '.'"),
        ("a..b@example.com", "misplaced '.'"),
        ("a@localhost", "not a domain"),
        ("a@-bad-.com", "not a domain"),
        ("a@" + "x" * 250 + ".com", "longer than 254"),
    ],
)
def test_rejects_non_emails_with_a_reason(raw, reason):
    """Values that are not emails raise IdentityError saying what is wrong."""
    with pytest.raises(IdentityError, match=reason):
        normalize_email(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("ada\u200b@example.com", "invisible format character (U+200B ZERO WIDTH SPACE)"),
        ("ada\u200c@example.com", "(U+200C ZERO WIDTH NON-JOINER)"),
        ("ada\u200d@example.com", "(U+200D ZERO WIDTH JOINER)"),
        ("ada@example.com\ufeff", "(U+FEFF ZERO WIDTH NO-BREAK SPACE)"),
        ("\ufeffada@example.com", "(U+FEFF ZERO WIDTH NO-BREAK SPACE)"),
        ("ad\u202ea@example.com", "format character (U+202E RIGHT-TO-LEFT OVERRIDE)"),
        ("ada\u2066@example.com", "(U+2066 LEFT-TO-RIGHT ISOLATE)"),
        ("ada\u00ad@example.com", "(U+00AD SOFT HYPHEN)"),
        ("ada\u2060@example.com", "(U+2060 WORD JOINER)"),
        ("a\u034fda@example.com", "invisible character (U+034F COMBINING GRAPHEME JOINER)"),
        ("ada\ufe0f@example.com", "invisible character (U+FE0F VARIATION SELECTOR-16)"),
        ("ada\u3164@example.com", "invisible character (U+3164 HANGUL FILLER)"),
        ("ada\U000e0041@example.com", "(U+E0041 TAG LATIN CAPITAL LETTER A)"),
        ("a\x00da@example.com", "control character (U+0000)"),
        ("a\x1bda@example.com", "control character (U+001B)"),
        ("ada\u00a0@example.com", "space character (U+00A0 NO-BREAK SPACE)"),
        ("ada\u2028@example.com", "line separator (U+2028 LINE SEPARATOR)"),
        ("ada\ue000@example.com", "private-use character (U+E000)"),
    ],
)
def test_refuses_invisible_and_control_characters_naming_them(raw, reason):
    """An email with a character nobody sees (zero-width, bidi controls, fillers, tags) or that
    no font prints is refused, and the reason names the code point: it would be a second person
    that looks exactly like the first."""
    with pytest.raises(IdentityError, match=re.escape(reason)):
        normalize_email(raw)
    email, refused = read_email(raw)
    assert email is None and refused is not None and reason in refused


@given(st.emails(), st.sampled_from(["\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u061c"]))
def test_no_invisible_character_survives_normalization(email, invisible):
    """Wherever an invisible character is slipped into an email, normalization refuses it."""
    at = email.index("@")
    for position in (0, at, at + 1, len(email)):
        spoofed = email[:position] + invisible + email[position:]
        assert try_normalize_email(spoofed) is None
        assert read_email(spoofed)[1] is not None


def test_read_email_tells_missing_from_refused():
    """No email is not a refusal; something that is not an email is, with the reason."""
    assert read_email(None) == (None, None)
    assert read_email("  ") == (None, None)
    assert read_email(" Ada@Example.com ") == ("ada@example.com", None)
    assert read_email(42) == (None, "email must be text, got int")
    assert read_email("nope") == (None, "email has no '@'")


def test_try_normalize_returns_none_for_missing_or_bad():
    """Missing or malformed emails give no match key instead of an error."""
    assert try_normalize_email(None) is None
    assert try_normalize_email(42) is None
    assert try_normalize_email("nope") is None
    assert try_normalize_email(" A@B.co ") == "a@b.co"


@given(st.emails())
def test_normalization_is_idempotent(email):
    """Normalizing a normalized email changes nothing (stable match keys)."""
    once = try_normalize_email(email)
    if once is not None:
        assert normalize_email(once) == once


def test_phone_to_e164():
    """Phones are reduced to E.164; junk is rejected."""
    assert normalize_phone("(555) 123-4567") == "+15551234567"
    assert normalize_phone("0044 20 7946 0958") == "+442079460958"
    with pytest.raises(IdentityError):
        normalize_phone("12")


def test_redaction_hides_the_local_part():
    """Logs see only the first character and the domain of an email."""
    assert redact_email("ada.lovelace@example.com") == "a***@example.com"
