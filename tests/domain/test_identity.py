"""Identity normalization: how a CRM record's email and phone become match keys."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_sync.domain.identity import (
    IdentityError,
    normalize_email,
    normalize_phone,
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
