"""`GET contacts`: query options, `Prefer` preferences, paging cookies and change tracking.

- `Prefer: odata.maxpagesize=N` (at most 5,000, the default) pages through `@odata.nextLink`,
  whose `$skiptoken` is an opaque paging cookie: a keyset on the requested order, so records
  modified while a client pages are neither skipped nor (unless they moved) repeated.
- `Prefer: odata.track-changes` returns every live record in row-version order and, on the
  last page, an `@odata.deltaLink`. Following it returns what changed since, then what was
  deleted (`$deletedEntity` entries), and a new deltaLink. `$filter`, `$orderby`, `$top` and
  `$expand` are refused with tracking, as documented; a token older than the organisation's
  `ExpireChangeTrackingInDays` (7 by default) asks for a full sync.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from consent_sync_sandbox.dynamics.errors import (
    EXPIRED_VERSION_STAMP,
    EXPIRED_VERSION_STAMP_MESSAGE,
    DataverseError,
    bad_request,
)
from consent_sync_sandbox.dynamics.garble import Garbles
from consent_sync_sandbox.dynamics.odata_filter import column_sql, compile_filter
from consent_sync_sandbox.dynamics.records import parse_select, record_json
from consent_sync_sandbox.dynamics.schema import ATTRIBUTE_BY_NAME
from consent_sync_sandbox.dynamics.store import ContactStore, Row

MAX_PAGE_SIZE = 5000
_TRACKING_REFUSED = ("$filter", "$orderby", "$top", "$expand")
_COOKIE = re.compile(
    r'<cookie pagenumber="(\d+)" pagingcookie="([A-Za-z0-9_=-]+)" istracking="(True|False)" />'
)
_DELTA_TOKEN = re.compile(r"(\d+)!(\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2})")


@dataclass(frozen=True, slots=True)
class Prefer:
    """The `Prefer` preferences the emulator honours (the header may repeat; values join)."""

    maxpagesize: int | None = None
    track_changes: bool = False
    return_representation: bool = False
    continue_on_error: bool = False

    @classmethod
    def parse(cls, values: list[str]) -> Prefer:
        maxpagesize: int | None = None
        flags: set[str] = set()
        for value in values:
            for part in value.split(","):
                name, _, argument = part.strip().partition("=")
                name = name.strip().lower()
                if name == "odata.maxpagesize":
                    try:
                        maxpagesize = int(argument.strip().strip('"'))
                    except ValueError:
                        raise bad_request(
                            f"'{argument}' is not a valid odata.maxpagesize."
                        ) from None
                    if maxpagesize <= 0:
                        raise bad_request("odata.maxpagesize must be a positive integer.")
                elif name == "return" and argument.strip() == "representation":
                    flags.add("representation")
                else:
                    flags.add(name)
        return cls(
            maxpagesize=maxpagesize,
            track_changes="odata.track-changes" in flags,
            return_representation="representation" in flags,
            continue_on_error="odata.continue-on-error" in flags,
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One answer to `GET contacts`: its body and the `Preference-Applied` it honoured."""

    body: dict[str, Any]
    preference_applied: str | None


def _cookie(page_number: int, state: dict[str, Any], tracking: bool) -> str:
    raw = base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()
    return (
        f'<cookie pagenumber="{page_number}" pagingcookie="{raw}" '
        f'istracking="{"True" if tracking else "False"}" />'
    )


def _read_cookie(text: str, tracking: bool) -> tuple[int, dict[str, Any]]:
    match = _COOKIE.fullmatch(text.strip())
    if match is None or (match.group(3) == "True") != tracking:
        raise bad_request("The $skiptoken value is not a valid paging cookie.")
    try:
        state = json.loads(base64.urlsafe_b64decode(match.group(2)))
    except ValueError:
        raise bad_request("The $skiptoken value is not a valid paging cookie.") from None
    if not isinstance(state, dict):
        raise bad_request("The $skiptoken value is not a valid paging cookie.")
    return int(match.group(1)), state


def _link(api_root: str, params: Mapping[str, str], **extra: str) -> str:
    kept = {k: v for k, v in params.items() if k not in ("$skiptoken", "$deltatoken")}
    kept.update(extra)
    query = "&".join(f"{k}={quote(v, safe=chr(36) + ',()=:')}" for k, v in kept.items())
    return f"{api_root}/contacts?{query}"


def delta_token(version: int, now: float) -> str:
    """A change-tracking token as Dataverse shapes it: `<row version>!<UTC time>`."""
    stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%m/%d/%Y %H:%M:%S")
    return f"{version}!{stamp}"


def _order(text: str | None) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for item in (text or "").split(","):
        words = item.split()
        if not words:
            continue
        if words[0] not in ATTRIBUTE_BY_NAME or len(words) > 2:
            raise bad_request(
                f"Could not find a property named '{words[0]}' on type "
                "'Microsoft.Dynamics.CRM.contact'."
            )
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise bad_request(f"Syntax error: '{item}' is not a valid $orderby clause.")
        order.append((words[0], direction == "desc"))
    if not any(name == "contactid" for name, _ in order):
        order.append(("contactid", False))
    return order


def _sort_expr(name: str) -> str:
    attribute = ATTRIBUTE_BY_NAME[name]
    expr = column_sql(attribute)
    return f"COALESCE({expr}, '')" if attribute.type in ("String", "Memo") else expr


class ContactQueries:
    """Answers collection reads over the store (plain, paged, tracked, delta)."""

    def __init__(self, store: ContactStore, garbles: Garbles, expire_days: float = 7.0) -> None:
        self.store = store
        self.garbles = garbles
        self.expire_days = expire_days

    def render(self, row: Row, select: list[str] | None) -> dict[str, Any]:
        """One record as served: selected columns, garbled if the sandbox was told to."""
        return self.garbles.record(row, record_json(row, select))

    def collection(self, api_root: str, params: Mapping[str, str], prefer: Prefer) -> Page:
        select = parse_select(params.get("$select"))
        tracking = prefer.track_changes or "$deltatoken" in params
        if tracking:
            for option in _TRACKING_REFUSED:
                if option in params:
                    raise bad_request(
                        f'The "{option}" query parameter isn\'t supported when Change Tracking '
                        "is enabled."
                    )
            return self._tracked(api_root, params, prefer, select)
        return self._plain(api_root, params, prefer, select)

    # -- plain queries -------------------------------------------------------------------------

    def _plain(
        self, api_root: str, params: Mapping[str, str], prefer: Prefer, select: list[str] | None
    ) -> Page:
        aliases = {k: v for k, v in params.items() if k.startswith("@")}
        condition = compile_filter(params["$filter"], aliases) if params.get("$filter") else None
        where, values = (condition.sql, condition.params) if condition else ("1=1", ())
        order = _order(params.get("$orderby"))
        exprs = [(_sort_expr(name), desc) for name, desc in order]
        top = _top(params.get("$top"))
        size = min(prefer.maxpagesize or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        if top is not None and prefer.maxpagesize is None:
            size = min(top, MAX_PAGE_SIZE)
        page_number, after = 1, None
        if "$skiptoken" in params:
            page_number, state = _read_cookie(params["$skiptoken"], tracking=False)
            after = state.get("k")
            if not isinstance(after, list) or len(after) != len(exprs):
                raise bad_request("The $skiptoken value is not a valid paging cookie.")
        rows = self.store.query(where, values, exprs, after, size + 1)
        more = len(rows) > size and (top is None or prefer.maxpagesize is not None)
        rows = rows[:size]
        body: dict[str, Any] = {"@odata.context": _context(api_root, select)}
        if params.get("$count", "").lower() == "true":
            body["@odata.count"] = min(self._count(where, values), MAX_PAGE_SIZE)
        body["value"] = [self.render(row, select) for row, _ in rows]
        if more:
            cookie = _cookie(page_number + 1, {"k": list(rows[-1][1])}, tracking=False)
            body["@odata.nextLink"] = _link(api_root, params, **{"$skiptoken": cookie})
        applied = f"odata.maxpagesize={prefer.maxpagesize}" if prefer.maxpagesize else None
        return Page(body, applied)

    def _count(self, where: str, values: tuple[Any, ...]) -> int:
        return len(self.store.query(where, values, [("contactid", False)], None, MAX_PAGE_SIZE + 1))

    # -- change tracking -----------------------------------------------------------------------

    def _tracked(
        self, api_root: str, params: Mapping[str, str], prefer: Prefer, select: list[str] | None
    ) -> Page:
        size = min(prefer.maxpagesize or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        delta = "$deltatoken" in params
        if "$skiptoken" in params:
            page_number, state = _read_cookie(params["$skiptoken"], tracking=True)
        else:
            since = self._since(params["$deltatoken"]) if delta else 0
            page_number = 1
            state = {"from": since, "upto": self.store.max_version(), "phase": "c", "after": since}
        try:
            since, upto = int(state["from"]), int(state["upto"])
            phase, after = str(state["phase"]), int(state["after"])
        except (KeyError, TypeError, ValueError):
            raise bad_request("The $skiptoken value is not a valid paging cookie.") from None
        delta = delta or since > 0
        items: list[dict[str, Any]] = []
        if phase == "c":
            changed = self.store.changed(after, upto, size + 1)
            items = [self.render(row, select) for row in changed[:size]]
            if len(changed) > size:
                after = int(changed[size - 1]["versionnumber"])
            else:
                phase, after = ("d", since) if delta else ("done", after)
        if phase == "d":
            room = size - len(items)
            removed = self.store.deleted(after, upto, room + 1)
            items += [_deleted_entry(api_root, cid) for _, cid in removed[:room]]
            if len(removed) <= room:
                phase = "done"
            elif room:
                after = int(removed[room - 1][0])
        body: dict[str, Any] = {
            "@odata.context": _context(api_root, select) + ("/$delta" if delta else ""),
            "value": items,
        }
        if phase == "done":
            token = delta_token(upto, time.time())
            body["@odata.deltaLink"] = _link(api_root, params, **{"$deltatoken": token})
        else:
            cookie_state = {"from": since, "upto": upto, "phase": phase, "after": after}
            cookie = _cookie(page_number + 1, cookie_state, tracking=True)
            extra = {"$skiptoken": cookie}
            if delta:
                extra["$deltatoken"] = params.get("$deltatoken", "")
            body["@odata.nextLink"] = _link(api_root, params, **extra)
        applied = [f"odata.maxpagesize={prefer.maxpagesize}"] if prefer.maxpagesize else []
        if prefer.track_changes:
            applied.append("odata.track-changes")
        return Page(body, ",".join(applied) or None)

    def _since(self, token: str) -> int:
        match = _DELTA_TOKEN.fullmatch(token)
        expired = DataverseError(400, EXPIRED_VERSION_STAMP, EXPIRED_VERSION_STAMP_MESSAGE)
        if match is None:
            raise expired
        version = int(match.group(1))
        try:
            issued = datetime.strptime(match.group(2), "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            raise expired from None
        if version > self.store.max_version():
            raise expired
        if time.time() - issued.timestamp() > self.expire_days * 86_400:
            raise expired
        return version


def _deleted_entry(api_root: str, contact_id: str) -> dict[str, Any]:
    return {
        "@odata.context": f"{api_root}/$metadata#contacts/$deletedEntity",
        "id": contact_id,
        "reason": "deleted",
    }


def _context(api_root: str, select: list[str] | None) -> str:
    return f"{api_root}/$metadata#contacts" + (f"({','.join(select)})" if select else "")


def _top(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        top = int(text)
    except ValueError:
        raise bad_request(f"Invalid value '{text}' for $top query option found.") from None
    if top < 0:
        raise bad_request(f"Invalid value '{text}' for $top query option found.")
    return top
