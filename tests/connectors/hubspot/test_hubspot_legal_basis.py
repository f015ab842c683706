"""The legal basis sent with a v4 status write (pure)."""

from __future__ import annotations

import pytest

from consent_sync.connectors.hubspot_prefs import DEFAULT_BASIS, hubspot_basis


@pytest.mark.parametrize(
    ("given", "state", "expected"),
    [
        ("consent", "SUBSCRIBED", "CONSENT_WITH_NOTICE"),
        ("legitimate_interest", "SUBSCRIBED", "LEGITIMATE_INTEREST_OTHER"),
        ("NON_GDPR", "UNSUBSCRIBED", "NON_GDPR"),
        ("process_and_store", "SUBSCRIBED", "PROCESS_AND_STORE"),
        (None, "UNSUBSCRIBED", None),
        ("whim", "UNSUBSCRIBED", None),
    ],
)
def test_known_bases_translate_to_hubspots_names(given, state, expected):
    """consent-sync's names and HubSpot's own both reach HubSpot as HubSpot's name."""
    assert hubspot_basis(given, state)[0] == expected


def test_subscribed_without_a_basis_gets_the_default_and_says_who_chose_it():
    """SUBSCRIBED always carries a basis; a chosen default is explained as consent-sync's."""
    basis, explanation = hubspot_basis(None, "SUBSCRIBED")
    assert basis == DEFAULT_BASIS
    assert explanation is not None and "consent-sync" in explanation


def test_unknown_basis_is_replaced_and_named_in_the_explanation():
    """A basis HubSpot would reject is replaced by the default, the original kept in the note."""
    basis, explanation = hubspot_basis("Implied", "SUBSCRIBED")
    assert basis == DEFAULT_BASIS
    assert explanation is not None and "Implied" in explanation
