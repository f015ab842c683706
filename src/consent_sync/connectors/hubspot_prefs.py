"""HubSpot email subscriptions through Communication Preferences v4 (httpx; the SDK lacks v4).

Subscribers are addressed by email. v4 `statuses/batch/write` can re-subscribe a contact who opted
out (v3 `subscribe` refuses), and SUBSCRIBED needs a legal basis, so one is always sent with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consent_sync.connectors.base import PermanentError
from consent_sync.connectors.hubspot_http import HubSpotTransport

BATCH_LIMIT = 100  # subscribers per v4 batch call
STATUS_READ = "/communication-preferences/v4/statuses/batch/read"
STATUS_WRITE = "/communication-preferences/v4/statuses/batch/write"
DEFINITIONS = "/communication-preferences/v3/definitions"

#: HubSpot's legal bases; consent-sync's own names (lower case) translate to them.
LEGAL_BASES = frozenset(
    {
        "LEGITIMATE_INTEREST_PQL",
        "LEGITIMATE_INTEREST_CLIENT",
        "LEGITIMATE_INTEREST_OTHER",
        "PERFORMANCE_OF_CONTRACT",
        "CONSENT_WITH_NOTICE",
        "NON_GDPR",
        "PROCESS_AND_STORE",
    }
)
_BASIS_BY_NAME = {
    "consent": "CONSENT_WITH_NOTICE",
    "legitimate_interest": "LEGITIMATE_INTEREST_OTHER",
    "contract": "PERFORMANCE_OF_CONTRACT",
    "non_gdpr": "NON_GDPR",
}
DEFAULT_BASIS = "CONSENT_WITH_NOTICE"
DEFAULT_EXPLANATION = "Consent recorded in another system, propagated by consent-sync."
_EVIDENCE_KEYS = (
    ("legal_basis", "legalBasis"),
    ("note", "legalBasisExplanation"),
    ("hubspot_source", "source"),
)


@dataclass(frozen=True, slots=True)
class SubscriptionStatus:
    """One subscriber's status for one subscription type, as v4 reports it."""

    status: str
    timestamp: datetime | None
    evidence: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class StatusWrite:
    """One status to set: subscriber, subscription, state and the evidence to store with it."""

    email: str
    subscription_id: str
    state: str
    legal_basis: str | None = None
    explanation: str | None = None


def parse_hs_datetime(value: str | datetime) -> datetime:
    """HubSpot's ISO timestamps (`2024-01-02T03:04:05.678Z`) as aware UTC datetimes."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def hubspot_basis(legal_basis: str | None, state: str) -> tuple[str | None, str | None]:
    """The legalBasis to send and, when it had to be chosen here, why.

    SUBSCRIBED always carries one: the decision's own, else consent with notice; a basis HubSpot
    does not know is replaced by the default and named in the explanation.
    """
    if legal_basis is None:
        return (DEFAULT_BASIS, DEFAULT_EXPLANATION) if state == "SUBSCRIBED" else (None, None)
    basis = _BASIS_BY_NAME.get(legal_basis.lower(), legal_basis.upper())
    if basis in LEGAL_BASES:
        return basis, None
    if state != "SUBSCRIBED":
        return None, None
    return DEFAULT_BASIS, f"{DEFAULT_EXPLANATION} Recorded legal basis: {legal_basis}."


class SubscriptionPreferences:
    """Reads and writes email subscription statuses for the contacts of one portal."""

    def __init__(self, transport: HubSpotTransport, subscriptions: Mapping[str, str]) -> None:
        self._transport = transport
        self._wanted = dict(subscriptions)
        self._ids: dict[str, str] | None = None

    def ids(self) -> dict[str, str]:
        """Mapping field name -> subscription id; names are resolved once via v3 definitions."""
        if self._ids is None:
            resolved = dict(self._wanted)
            if any(not ref.isdigit() for ref in resolved.values()):
                answer = self._transport.get_json(DEFINITIONS)
                by_name = {
                    str(d.get("name")): str(d.get("id"))
                    for d in answer.get("subscriptionDefinitions") or []
                }
                for name, ref in resolved.items():
                    if ref.isdigit():
                        continue
                    if ref not in by_name:
                        raise PermanentError(
                            f"no subscription named {ref!r} in the portal",
                            system=self._transport.system,
                            field_name=name,
                        )
                    resolved[name] = by_name[ref]
            self._ids = resolved
        return self._ids

    def read(self, emails: Sequence[str]) -> dict[str, dict[str, SubscriptionStatus]]:
        """Lower-cased email -> subscription id -> status, 100 subscribers a call.

        A subscriber HubSpot did not answer for is absent: nothing is known about them.
        """
        wanted = list(dict.fromkeys(emails))
        found: dict[str, dict[str, SubscriptionStatus]] = {}
        for start in range(0, len(wanted), BATCH_LIMIT):
            answer = self._transport.post_json(
                STATUS_READ,
                {"inputs": wanted[start : start + BATCH_LIMIT]},
                {"channel": "EMAIL"},
                listing="results",
            )
            for result in answer["results"]:
                subscriber = str(result.get("subscriberIdString", "")).lower()
                statuses = found.setdefault(subscriber, {})
                for entry in result.get("statuses") or []:
                    stamp = entry.get("timestamp")
                    statuses[str(entry.get("subscriptionId"))] = SubscriptionStatus(
                        str(entry.get("status") or "NOT_SPECIFIED"),
                        parse_hs_datetime(stamp) if stamp else None,
                        {key: str(entry[src]) for key, src in _EVIDENCE_KEYS if entry.get(src)},
                    )
        return found

    def write(self, writes: Sequence[StatusWrite]) -> dict[str, tuple[str, str]]:
        """Set statuses, 100 a call; lower-cased email -> (category, message) of each refusal."""
        failed: dict[str, tuple[str, str]] = {}
        for start in range(0, len(writes), BATCH_LIMIT):
            inputs = [_write_input(w) for w in writes[start : start + BATCH_LIMIT]]
            answer = self._transport.post_json(STATUS_WRITE, {"inputs": inputs})
            for error in answer.get("errors") or []:
                context = error.get("context") or {}
                refusal = (str(error.get("category") or ""), str(error.get("message") or ""))
                for subscriber in context.get("subscriberIdString") or context.get("ids") or []:
                    failed[str(subscriber).lower()] = refusal
        return failed


def _write_input(write: StatusWrite) -> dict[str, Any]:
    basis, chosen_explanation = hubspot_basis(write.legal_basis, write.state)
    item: dict[str, Any] = {
        "subscriberIdString": write.email,
        "subscriptionId": int(write.subscription_id),
        "statusState": write.state,
        "channel": "EMAIL",
    }
    if basis is not None:
        item["legalBasis"] = basis
    explanation = " ".join(e for e in (write.explanation, chosen_explanation) if e)
    if basis is not None and explanation:
        item["legalBasisExplanation"] = explanation
    return item
