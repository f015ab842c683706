"""HubSpot email subscriptions through Communication Preferences v4 (httpx; the SDK lacks v4).

Subscribers are addressed by email. v4 `statuses/batch/write` can re-subscribe a contact who opted
out (v3 `subscribe` refuses). A SUBSCRIBED status is written only with the legal basis its decision
recorded, translated to HubSpot's name for it, and only with the explanation the decision recorded;
a grant without a basis HubSpot knows is never sent (docs/design.md, "What a grant is": evidence
is never invented).

An opt-out of all email is a "wide status" of its own: `hs_email_optout` on the contact says
whether there is one, `statuses/batch/unsubscribe-all/read` gives when, and
`statuses/batch/unsubscribe-all` sets it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consent_sync.connectors.hubspot.transport import HubSpotTransport
from consent_sync.connectors.protocol import PermanentError
from consent_sync.domain.records import Unreadable

BATCH_LIMIT = 100  # subscribers per v4 batch call
STATUS_READ = "/communication-preferences/v4/statuses/batch/read"
STATUS_WRITE = "/communication-preferences/v4/statuses/batch/write"
WIDE_READ = "/communication-preferences/v4/statuses/batch/unsubscribe-all/read"
UNSUBSCRIBE_ALL = "/communication-preferences/v4/statuses/batch/unsubscribe-all"
DEFINITIONS = "/communication-preferences/v3/definitions"
EMAIL = {"channel": "EMAIL"}

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
_EVIDENCE_KEYS = (
    ("legal_basis", "legalBasis"),
    ("note", "legalBasisExplanation"),
    ("hubspot_source", "source"),
)
#: How a field read from an opt-out of all email says so in its evidence.
UNSUBSCRIBE_ALL_METHOD = "unsubscribe_all"
#: The states v4 answers a subscription status in.
SUBSCRIPTION_STATES = ("SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED")
#: The key, among a subscriber's statuses, of an entry that names no readable subscription id:
#: it could be any subscription, so every one the subscriber has no readable answer for is
#: unreadable too.
ANY_SUBSCRIPTION = "*"
_STAMP_MAX = 64  # characters: no ISO 8601 timestamp is longer


@dataclass(frozen=True, slots=True)
class SubscriptionStatus:
    """One subscriber's status for one subscription type, as v4 reports it."""

    status: str
    timestamp: datetime | None
    evidence: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class WideOptOut:
    """A subscriber's opt-out of all email (a v4 wide status UNSUBSCRIBED)."""

    timestamp: datetime | None
    evidence: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class StatusWrite:
    """One status to set: subscriber, subscription, state and the evidence to store with it.

    `legal_basis` is already HubSpot's name for the decision's basis; both it and `explanation`
    are the decision's own and are set only for SUBSCRIBED.
    """

    email: str
    subscription_id: str
    state: str
    legal_basis: str | None = None
    explanation: str | None = None


def parse_hs_datetime(value: str | datetime) -> datetime:
    """HubSpot's ISO timestamps (`2024-01-02T03:04:05.678Z`) as aware UTC datetimes.

    ValueError when `value` is not one (HubSpot never sends those: a careless CRM might).
    """
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or len(value) > _STAMP_MAX:
        raise ValueError("not an ISO 8601 timestamp")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_stamp(part: str, value: object) -> datetime | Unreadable | None:
    """A timestamp a v4 answer may leave out (None), or what was wrong with it."""
    if value is None or value == "":
        return None
    try:
        return parse_hs_datetime(value)  # type: ignore[arg-type]  # checked inside
    except (ValueError, OverflowError):
        return Unreadable.of(part, value, "not an ISO 8601 timestamp")


def hubspot_basis(legal_basis: str | None) -> str | None:
    """HubSpot's name for a recorded legal basis; None when none was recorded or HubSpot has none.

    consent-sync's names (`consent`, `legitimate_interest`, `contract`, `non_gdpr`) translate;
    HubSpot's own names pass as themselves, in any case. Nothing is ever chosen in its place.
    """
    if legal_basis is None or not legal_basis.strip():
        return None
    given = legal_basis.strip()
    basis = _BASIS_BY_NAME.get(given.lower(), given.upper())
    return basis if basis in LEGAL_BASES else None


def withheld_reason(
    field_name: str, subscription_id: str, legal_basis: str | None, explanation: str | None = None
) -> str:
    """Why a SUBSCRIBED write to one subscription cannot be sent with the evidence it has."""
    target = f"subscription {field_name!r} (id {subscription_id})"
    if legal_basis is None or not legal_basis.strip():
        missing = "the decision recorded no legal basis"
    elif hubspot_basis(legal_basis) is None:
        known = ", ".join([*_BASIS_BY_NAME, *sorted(LEGAL_BASES)])
        missing = (
            f"the decision's legal basis {legal_basis!r} is not one HubSpot knows (one of {known})"
        )
    elif not (explanation or "").strip():
        missing = "the decision recorded no explanation of it (a note)"
    else:
        missing = "the evidence is incomplete"
    return (
        f"grant withheld from {target}: HubSpot stores SUBSCRIBED only with a legal basis and "
        f"its explanation, and {missing}; nothing was written"
    )


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

    def read(self, emails: Sequence[str]) -> dict[str, dict[str, SubscriptionStatus | Unreadable]]:
        """Lower-cased email -> subscription id -> status (or why it would not parse), 100
        subscribers a call.

        A subscriber HubSpot did not answer for is absent: nothing is known about them. An answer
        that is not what v4 sends (a timestamp that is no timestamp, a state outside the three,
        an entry without a readable subscription id) spoils that status only, never the call.
        """
        wanted = list(dict.fromkeys(emails))
        found: dict[str, dict[str, SubscriptionStatus | Unreadable]] = {}
        for start in range(0, len(wanted), BATCH_LIMIT):
            asked = wanted[start : start + BATCH_LIMIT]
            answer = self._transport.post_json(
                STATUS_READ, {"inputs": asked}, {"channel": "EMAIL"}, listing="results"
            )
            garbled: Unreadable | None = None
            for result in answer["results"]:
                if not isinstance(result, Mapping) or not isinstance(
                    result.get("subscriberIdString"), str
                ):
                    garbled = Unreadable.of("result", result, "not a subscriber's statuses")
                    continue
                statuses = found.setdefault(str(result["subscriberIdString"]).lower(), {})
                entries = result.get("statuses") or []
                if not isinstance(entries, list):
                    statuses[ANY_SUBSCRIPTION] = Unreadable.of(
                        "statuses", entries, "not a list of statuses"
                    )
                    continue
                for entry in entries:
                    subscription_id, status = _status(entry)
                    statuses[subscription_id] = status
            if garbled is not None:
                # One answer nobody can attribute: whoever it may be for was not read.
                for email in asked:
                    found.setdefault(email.lower(), {}).setdefault(ANY_SUBSCRIPTION, garbled)
        return found

    def read_wide(self, emails: Sequence[str]) -> dict[str, WideOptOut | Unreadable]:
        """Lower-cased email -> opt-out of all email, for those who have one; 100 a call.

        v4 answers each subscriber with their wide statuses; only an UNSUBSCRIBED one on EMAIL is
        an opt-out. With several (brands), the latest counts: it is the one a later opt-in to one
        subscription type must postdate to stand.
        """
        wanted = list(dict.fromkeys(emails))
        found: dict[str, WideOptOut | Unreadable] = {}
        for start in range(0, len(wanted), BATCH_LIMIT):
            asked = wanted[start : start + BATCH_LIMIT]
            answer = self._transport.post_json(
                WIDE_READ, {"inputs": asked}, EMAIL, listing="results"
            )
            for result in answer["results"]:
                if not isinstance(result, Mapping) or not isinstance(
                    result.get("subscriberIdString"), str
                ):
                    # Any of them may have opted out of everything: none of them was read.
                    garbled = Unreadable.of("result", result, "not a subscriber's wide statuses")
                    for email in asked:
                        found[email.lower()] = garbled
                    break
                subscriber = str(result["subscriberIdString"]).lower()
                entries = result.get("wideStatuses") or []
                for entry in entries if isinstance(entries, list) else [entries]:
                    opt_out = _wide_opt_out(entry)
                    known = found.get(subscriber)
                    if opt_out is None or isinstance(known, Unreadable):
                        continue
                    if (
                        isinstance(opt_out, Unreadable)
                        or known is None
                        or _later(opt_out.timestamp, known.timestamp)
                    ):
                        found[subscriber] = opt_out
        return found

    def write(self, writes: Sequence[StatusWrite]) -> dict[str, tuple[str, str]]:
        """Set statuses, 100 a call; lower-cased email -> (category, message) of each refusal."""
        failed: dict[str, tuple[str, str]] = {}
        for start in range(0, len(writes), BATCH_LIMIT):
            inputs = [_write_input(w) for w in writes[start : start + BATCH_LIMIT]]
            answer = self._transport.post_json(STATUS_WRITE, {"inputs": inputs})
            failed.update(_refusals(answer))
        return failed

    def unsubscribe_all(self, emails: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Opt subscribers out of all email, 100 a call; email -> (category, message) refused."""
        wanted = list(dict.fromkeys(emails))
        failed: dict[str, tuple[str, str]] = {}
        for start in range(0, len(wanted), BATCH_LIMIT):
            answer = self._transport.post_json(
                UNSUBSCRIBE_ALL, {"inputs": wanted[start : start + BATCH_LIMIT]}, EMAIL
            )
            failed.update(_refusals(answer))
        return failed


def _refusals(answer: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Lower-cased subscriber -> (category, message) for each error of a v4 batch answer."""
    failed: dict[str, tuple[str, str]] = {}
    for error in answer.get("errors") or []:
        context = error.get("context") or {}
        refusal = (str(error.get("category") or ""), str(error.get("message") or ""))
        for subscriber in context.get("subscriberIdString") or context.get("ids") or []:
            failed[str(subscriber).lower()] = refusal
    return failed


def _status(entry: object) -> tuple[str, SubscriptionStatus | Unreadable]:
    """One v4 status entry as (subscription id, status), or what would not parse in it."""
    if not isinstance(entry, Mapping):
        return ANY_SUBSCRIPTION, Unreadable.of("status", entry, "not a status object")
    raw_id = entry.get("subscriptionId")
    subscription_id = str(raw_id) if isinstance(raw_id, int | str) else ""
    if isinstance(raw_id, bool) or not (subscription_id.isascii() and subscription_id.isdigit()):
        return ANY_SUBSCRIPTION, Unreadable.of("subscriptionId", raw_id, "not a subscription id")
    state = entry.get("status")
    if state is None or state == "":
        state = "NOT_SPECIFIED"
    if state not in SUBSCRIPTION_STATES:
        reason = f"not one of {', '.join(SUBSCRIPTION_STATES)}"
        return subscription_id, Unreadable.of("status", state, reason)
    stamp = read_stamp("timestamp", entry.get("timestamp"))
    if isinstance(stamp, Unreadable):
        return subscription_id, stamp
    evidence = {key: str(entry[src]) for key, src in _EVIDENCE_KEYS if entry.get(src)}
    return subscription_id, SubscriptionStatus(str(state), stamp, evidence)


def _wide_opt_out(entry: object) -> WideOptOut | Unreadable | None:
    if not isinstance(entry, Mapping):
        return Unreadable.of("wide status", entry, "not a wide status object")
    if str(entry.get("status") or "") != "UNSUBSCRIBED":
        return None
    if str(entry.get("channel") or "EMAIL") != "EMAIL":
        return None
    stamp = read_stamp("wide status timestamp", entry.get("timestamp"))
    if isinstance(stamp, Unreadable):
        return stamp
    evidence = {"collection_method": UNSUBSCRIBE_ALL_METHOD}
    for key, src in (
        ("hubspot_source", "source"),
        ("wide_status_type", "wideStatusType"),
        ("business_unit_id", "businessUnitId"),
    ):
        if entry.get(src) not in (None, ""):
            evidence[key] = str(entry[src])
    return WideOptOut(stamp, evidence)


def _later(stamp: datetime | None, than: datetime | None) -> bool:
    return stamp is not None and (than is None or stamp > than)


def _write_input(write: StatusWrite) -> dict[str, Any]:
    item: dict[str, Any] = {
        "subscriberIdString": write.email,
        "subscriptionId": int(write.subscription_id),
        "statusState": write.state,
        "channel": "EMAIL",
    }
    if write.state != "SUBSCRIBED":
        return item  # an opt-out carries no legal basis
    if write.legal_basis not in LEGAL_BASES:
        # The connector withholds such grants before planning them; never send one blind.
        raise ValueError(f"SUBSCRIBED without a HubSpot legal basis: {write.legal_basis!r}")
    item["legalBasis"] = write.legal_basis
    if write.explanation:
        item["legalBasisExplanation"] = write.explanation
    return item
