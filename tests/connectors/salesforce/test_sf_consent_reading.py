"""How one Salesforce consent record reads, and what recording a decision on one writes: pure
functions, no org (docs/design.md, "Salesforce consent records")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consent_sync.config.mappings import CONSENT_RECORD_VALUES
from consent_sync.connectors.salesforce.consent_records import (
    EXPIRED,
    NOT_YET_EFFECTIVE,
    ConsentEntry,
    capture_source,
    read_state,
    recorded_state,
    sf_datetime,
)
from consent_sync.connectors.salesforce.consent_windows import WindowEdges
from consent_sync.domain.model import Status
from consent_sync.domain.records import Decided

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
STAMP = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # the record's SystemModstamp
ENTRY = ConsentEntry("Email Marketing", "Email", "Email Marketing/Email", "email_marketing")


def _sf(moment: datetime) -> str:
    return sf_datetime(moment)


def _row(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "PrivacyConsentStatus": "OptIn",
        "CaptureDate": _sf(datetime(2025, 3, 1, 8, 30, tzinfo=UTC)),
        "CaptureSource": "Web Form",
        "CaptureContactPointType": "Web",
        "DoubleConsentCaptureDate": None,
        "EffectiveFrom": None,
        "EffectiveTo": None,
    }
    return {**base, **fields}


def test_an_opt_in_inside_its_window_is_a_grant_decided_at_its_capture_date() -> None:
    """OptIn with an open window reads OptIn, decided when it was captured, with its source."""
    state = read_state(_row(), ENTRY, STAMP, NOW)
    assert state.problem is None
    assert state.raw == "OptIn" and CONSENT_RECORD_VALUES[state.raw] is Status.GRANTED
    assert state.decided_at == datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
    assert state.evidence["collection_method"] == "Web Form"
    assert state.evidence["capture_contact_point_type"] == "Web"
    assert state.evidence["data_use_purpose"] == "Email Marketing"


def test_an_opt_in_past_its_effective_to_is_expired_and_reads_as_a_denial_when_it_lapsed() -> None:
    """An expired opt-in is no consent: a denial, decided at its EffectiveTo, window in evidence."""
    ended = NOW - timedelta(days=3)
    state = read_state(_row(EffectiveTo=_sf(ended)), ENTRY, STAMP, NOW)
    assert state.raw == EXPIRED and CONSENT_RECORD_VALUES[EXPIRED] is Status.DENIED
    assert state.decided_at == ended
    assert state.evidence["effective_to"] == ended.isoformat()
    assert state.evidence["privacy_consent_status"] == "OptIn"


def test_an_opt_out_past_its_window_stays_a_denial_of_the_persons_own_act() -> None:
    """An expired opt-out is still a denial; its time is when the person opted out."""
    captured = datetime(2024, 5, 5, tzinfo=UTC)
    row = _row(PrivacyConsentStatus="OptOut", CaptureDate=_sf(captured), EffectiveTo=_sf(NOW))
    state = read_state(row, ENTRY, STAMP, NOW)
    assert CONSENT_RECORD_VALUES[state.raw] is Status.DENIED  # type: ignore[index]
    assert state.decided_at == captured


def test_a_record_before_its_effective_from_says_nothing_yet() -> None:
    """OptIn effective from next week is no grant today: unknown."""
    row = _row(EffectiveFrom=_sf(NOW + timedelta(days=7)))
    state = read_state(row, ENTRY, STAMP, NOW)
    assert state.raw == NOT_YET_EFFECTIVE
    assert CONSENT_RECORD_VALUES[NOT_YET_EFFECTIVE] is Status.UNKNOWN


def test_a_window_that_has_begun_and_not_ended_holds_the_status() -> None:
    """EffectiveFrom in the past and EffectiveTo in the future: the status as recorded."""
    row = _row(
        PrivacyConsentStatus="OptOut",
        EffectiveFrom=_sf(NOW - timedelta(days=1)),
        EffectiveTo=_sf(NOW + timedelta(days=1)),
    )
    assert read_state(row, ENTRY, STAMP, NOW).raw == "OptOut"


@pytest.mark.parametrize("status", ["NotSeen", "Seen"])
def test_seen_and_not_seen_say_nothing_whatever_the_window(status: str) -> None:
    """A notice seen, or not, is no decision: unknown, even once its window has passed."""
    state = read_state(
        _row(PrivacyConsentStatus=status, EffectiveTo=_sf(NOW - timedelta(days=1))),
        ENTRY,
        STAMP,
        NOW,
    )
    assert state.raw == status and CONSENT_RECORD_VALUES[status] is Status.UNKNOWN


def test_a_capture_date_after_the_records_own_stamp_is_capped_at_the_stamp() -> None:
    """A record cannot have been decided after it was last changed (a future date typed in)."""
    row = _row(CaptureDate=_sf(NOW + timedelta(days=30)))
    assert read_state(row, ENTRY, STAMP, NOW).decided_at == STAMP


def test_no_capture_date_leaves_the_records_stamp_to_stand_for_the_decision() -> None:
    """Without a CaptureDate there is no field time: the record's stamp is the bound."""
    assert read_state(_row(CaptureDate=None), ENTRY, STAMP, NOW).decided_at is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("CaptureDate", "yesterday"),
        ("EffectiveTo", "2026-13-45T00:00:00.000+0000"),
        ("EffectiveFrom", 20261201),
        ("DoubleConsentCaptureDate", "2026-12-01T10:00:00"),  # no zone
    ],
)
def test_a_datetime_that_will_not_parse_is_a_problem_named_for_its_field(
    field: str, value: object
) -> None:
    """The state is not read at all; the problem names the field and keeps the raw value."""
    state = read_state(_row(**{field: value}), ENTRY, STAMP, NOW)
    assert state.problem is not None
    assert state.problem.part == field
    assert state.problem.raw == (value if isinstance(value, str) else repr(value))
    assert state.raw is None and state.evidence == {}


def test_a_status_that_is_not_text_is_a_problem_but_an_unknown_word_is_left_to_the_table() -> None:
    """A number where a picklist value belongs is unparseable; a word the table does not
    know passes through, to become an unmappable_value conflict."""
    bad = read_state(_row(PrivacyConsentStatus=7), ENTRY, STAMP, NOW)
    assert bad.problem is not None and bad.problem.part == "PrivacyConsentStatus"
    odd = read_state(_row(PrivacyConsentStatus="Maybe"), ENTRY, STAMP, NOW)
    assert odd.problem is None and odd.raw == "Maybe" and odd.raw not in CONSENT_RECORD_VALUES


def test_recording_a_revocation_writes_what_salesforce_records_for_one() -> None:
    """OptOut captured when and where the decision was made, effective from now, open-ended;
    what the earlier opt-in carried is cleared."""
    decided = Decided(datetime(2026, 12, 2, 11, 58, 7, 250_000, tzinfo=UTC), "hubspot")
    now = datetime(2026, 12, 2, 12, 0, 3, 900_000, tzinfo=UTC)
    assert recorded_state("OptOut", decided, now) == {
        "PrivacyConsentStatus": "OptOut",
        "CaptureDate": "2026-12-02T11:58:07.250+0000",
        "CaptureSource": "consent-sync (hubspot)",
        "CaptureContactPointType": None,
        "DoubleConsentCaptureDate": None,
        "EffectiveFrom": "2026-12-02T12:00:03.000+0000",
        "EffectiveTo": None,
    }


def test_a_decision_without_a_time_is_captured_now_and_never_in_the_future() -> None:
    """No decision time: CaptureDate is now; a decision time ahead of our clock is capped."""
    assert recorded_state("OptOut", None, NOW)["CaptureDate"] == _sf(NOW)
    assert recorded_state("OptOut", None, NOW)["CaptureSource"] == "consent-sync"
    ahead = Decided(NOW + timedelta(hours=1), "manual:alice")
    assert recorded_state("OptIn", ahead, NOW)["CaptureDate"] == _sf(NOW)
    assert (
        capture_source("x" * 300).startswith("consent-sync (")
        and len(capture_source("x" * 300)) == 255
    )


def test_every_state_the_reader_produces_is_in_the_mappings_table() -> None:
    """The connector's states and the configuration's value table agree."""
    for status in ("OptIn", "OptOut", "NotSeen", "Seen"):
        for window in (
            {},
            {"EffectiveTo": _sf(NOW - timedelta(1))},
            {"EffectiveFrom": _sf(NOW + timedelta(1))},
        ):
            raw = read_state(_row(PrivacyConsentStatus=status, **window), ENTRY, STAMP, NOW).raw
            assert raw in CONSENT_RECORD_VALUES, (status, window)


def test_windows_are_looked_at_once_per_interval_and_first_from_before_the_pull() -> None:
    """The first look of a process reaches one interval behind the pull's start; the next is
    due only an interval after the last, and starts where the last ended."""
    edges = WindowEdges(timedelta(minutes=5))
    since = NOW - timedelta(minutes=5)
    assert edges.due("ContactPointTypeConsent", since, NOW) == since - timedelta(minutes=5)
    edges.looked("ContactPointTypeConsent", NOW)
    assert edges.due("ContactPointTypeConsent", since, NOW + timedelta(minutes=4)) is None
    later = NOW + timedelta(minutes=5)
    assert edges.due("ContactPointTypeConsent", since, later) == NOW
    edges.looked("ContactPointTypeConsent", NOW - timedelta(minutes=1))  # never backwards
    assert edges.due("ContactPointTypeConsent", since, later) == NOW
    assert edges.due("ContactPointConsent", since, later) == since - timedelta(minutes=5)
