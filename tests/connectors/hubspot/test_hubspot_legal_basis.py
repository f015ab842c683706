"""The legal basis sent with a v4 status write, and the reason a grant is withheld (pure)."""

from __future__ import annotations

import pytest

from consent_sync.connectors.hubspot import preferences as hubspot_prefs
from consent_sync.connectors.hubspot.preferences import StatusWrite, hubspot_basis, withheld_reason


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("consent", "CONSENT_WITH_NOTICE"),
        ("legitimate_interest", "LEGITIMATE_INTEREST_OTHER"),
        ("contract", "PERFORMANCE_OF_CONTRACT"),
        ("non_gdpr", "NON_GDPR"),
        ("NON_GDPR", "NON_GDPR"),
        ("LEGITIMATE_INTEREST_PQL", "LEGITIMATE_INTEREST_PQL"),
        ("process_and_store", "PROCESS_AND_STORE"),
    ],
)
def test_known_bases_translate_to_hubspots_names(given: str, expected: str):
    """consent-sync's names and HubSpot's own both reach HubSpot as HubSpot's name."""
    assert hubspot_basis(given) == expected


@pytest.mark.parametrize("given", [None, "", "  ", "Implied", "whim", "consent_maybe"])
def test_missing_or_unknown_basis_has_no_hubspot_name(given: str | None):
    """No basis, or one HubSpot does not know, translates to nothing: no default is chosen."""
    assert hubspot_basis(given) is None


def test_no_default_basis_or_explanation_exists():
    """The connector holds no made-up legal basis or explanation to fall back on."""
    assert not hasattr(hubspot_prefs, "DEFAULT_BASIS")
    assert not hasattr(hubspot_prefs, "DEFAULT_EXPLANATION")


def test_withheld_reason_names_the_subscription_and_what_was_missing():
    """The reason names the mapped field, the subscription id and the missing or unknown basis."""
    missing = withheld_reason("marketing_email", "1001", None)
    assert "'marketing_email' (id 1001)" in missing
    assert "recorded no legal basis" in missing and "nothing was written" in missing
    unknown = withheld_reason("marketing_email", "1001", "Implied")
    assert "'Implied' is not one HubSpot knows" in unknown and "CONSENT_WITH_NOTICE" in unknown


def test_v4_input_carries_only_the_recorded_evidence():
    """SUBSCRIBED sends its basis and only a recorded explanation; an opt-out sends neither."""
    to_input = hubspot_prefs._write_input
    granted = to_input(StatusWrite("a@example.com", "1001", "SUBSCRIBED", "CONSENT_WITH_NOTICE"))
    assert granted["legalBasis"] == "CONSENT_WITH_NOTICE"
    assert "legalBasisExplanation" not in granted
    noted = to_input(
        StatusWrite("a@example.com", "1001", "SUBSCRIBED", "NON_GDPR", "web form, 2024-05-01")
    )
    assert noted["legalBasisExplanation"] == "web form, 2024-05-01"
    denied = to_input(StatusWrite("a@example.com", "1001", "UNSUBSCRIBED", "NON_GDPR", "why"))
    assert "legalBasis" not in denied and "legalBasisExplanation" not in denied
    with pytest.raises(ValueError, match="without a HubSpot legal basis"):
        to_input(StatusWrite("a@example.com", "1001", "SUBSCRIBED"))
