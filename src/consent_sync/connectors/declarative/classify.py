"""What a system's error answer means: the spec's rules first, then the built-in ones
(docs/connectors.md, "Errors")."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from consent_sync.config.declarative import Action, ErrorRule, ItemRule
from consent_sync.config.declarative_paths import MISSING

#: What the request was for: a record by id (404 means gone), a delta link (410 means expired),
#: or anything else.
Purpose = Literal["listing", "record", "delta"]
#: Seconds to wait after a 429 that names no Retry-After.
RATE_LIMIT_WAIT = 1.0
_TRANSIENT = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Verdict:
    """A classified error: what to do, and how long a transient one asks to wait."""

    action: Action
    retry_after: float | None = None


def json_body(text: str | bytes | None) -> Any:
    """The JSON an error answer holds, or None when it holds none."""
    if not text:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def classify(
    status: int, body: Any, rules: Sequence[ErrorRule], purpose: Purpose = "listing"
) -> Verdict:
    """The verdict on one non-2xx answer (`body`: its parsed JSON, None if it held none)."""
    for rule in rules:
        if _status_matches(rule, status) and _body_matches(rule.paths, rule.body, body):
            return Verdict(rule.action, rule.retry_after)
    if status == 401:
        return Verdict("auth")
    if status == 404 and purpose == "record":
        return Verdict("gone")
    if status == 410 and purpose == "delta":
        return Verdict("expired")
    if status in _TRANSIENT or status >= 500:
        return Verdict("transient", RATE_LIMIT_WAIT if status == 429 else None)
    return Verdict("permanent")


def classify_item(error: Any, rules: Sequence[ItemRule]) -> Action:
    """What a batch answer's error for one item means (default: permanent)."""
    for rule in rules:
        if _body_matches(rule.paths, rule.where, error):
            return rule.action
    return "permanent"


def _status_matches(rule: ErrorRule, status: int) -> bool:
    if rule.status is None:
        return True
    if isinstance(rule.status, str):
        return str(status)[0] == rule.status[0]
    return status in rule.status


def _body_matches(paths: Mapping[str, Any], patterns: Mapping[str, Any], body: Any) -> bool:
    for text, pattern in patterns.items():
        value = paths[text].get(body)
        if value is MISSING or value is None or isinstance(value, dict | list):
            return False
        shown = str(value).lower() if isinstance(value, bool) else str(value)
        if pattern.search(shown) is None:
            return False
    return True
