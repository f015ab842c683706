"""CRM search requests (filterGroups, sorts, query, paging) compiled to one SQL condition.

Filters in a group are ANDed, groups are ORed, as HubSpot documents; values are always bound
parameters. The 10,000-result window and the 200-per-page limit are enforced here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from consent_sync_sandbox.hubspot.errors import HubSpotError
from consent_sync_sandbox.hubspot.props import (
    PROPERTY_BY_NAME,
    SUBSCRIPTIONS,
    optout_property,
    parse_datetime_ms,
)

#: HubSpot's search window: no query pages past this many results.
SEARCH_WINDOW = 10_000
MAX_SEARCH_LIMIT = 200
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 10, 25

Operator = Literal[
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
]


# Request models use HubSpot's camelCase JSON names as field names.


class Filter(BaseModel):
    propertyName: str
    operator: Operator
    value: str | int | float | bool | None = None
    highValue: str | int | float | None = None
    values: list[str | int | float] | None = None


class FilterGroup(BaseModel):
    filters: list[Filter] = Field(default_factory=list)


class Sort(BaseModel):
    propertyName: str
    direction: Literal["ASCENDING", "DESCENDING"] = "ASCENDING"


class SearchRequest(BaseModel):
    """`POST /crm/v3/objects/contacts/search` body."""

    filterGroups: list[FilterGroup] = Field(default_factory=list)
    sorts: list[Sort | str] = Field(default_factory=list)
    query: str | None = None
    properties: list[str] | None = None
    limit: int = 10
    after: str | int | None = None


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """What the store runs for one search page."""

    where: str
    params: tuple[object, ...]
    order: str
    limit: int
    offset: int


def _invalid(message: str) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR")


_BOOL_SUB = (
    "(SELECT CASE status WHEN 'UNSUBSCRIBED' THEN 'true' WHEN 'SUBSCRIBED' THEN 'false' END "
    "FROM subscriptions s WHERE s.contact_id = contacts.id AND s.subscription_id = {sid})"
)
_EXPRESSIONS: dict[str, str] = {
    "email": "email",
    "firstname": "firstname",
    "lastname": "lastname",
    "phone": "phone",
    "sms_consent": "sms_consent",
    "phone_consent": "phone_consent",
    "createdate": "created_ms",
    "lastmodifieddate": "modified_ms",
    "hs_object_id": "id",
    "hs_email_optout": "CASE WHEN unsub_all THEN 'true' ELSE 'false' END",
    **{optout_property(s.id): _BOOL_SUB.format(sid=int(s.id)) for s in SUBSCRIPTIONS},
}
_COMPARE = {"EQ": "=", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}


def _expression(name: str) -> str:
    expression = _EXPRESSIONS.get(name)
    if expression is None:
        raise _invalid(f"Unable to search on property {name!r}: property doesn't exist")
    return expression


def _coerce(name: str, raw: object) -> object:
    """A filter value in the column's own terms (epoch ms, integers, 'true'/'false', text)."""
    if raw is None:
        raise _invalid(f"A value is required to filter on {name!r}")
    kind = PROPERTY_BY_NAME[name].type
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if kind == "datetime":
        ms = parse_datetime_ms(text)
        if ms is None:
            raise _invalid(f"{text!r} is not a valid date-time value for {name!r}")
        return ms
    if kind == "number":
        try:
            number = int(text)
        except ValueError:
            raise _invalid(f"{text!r} is not a valid number for {name!r}") from None
        if abs(number) >= 2**63:
            raise _invalid(f"{text!r} is out of range for {name!r}")
        return number
    if kind == "bool":
        return text.lower()
    if name == "email":
        return text.strip().lower()
    return text


def _condition(flt: Filter) -> tuple[str, list[object]]:
    name = flt.propertyName
    expression = _expression(name)
    if name == "email":
        expression = "email_key"  # case-insensitive, indexed
    op = flt.operator
    if op == "HAS_PROPERTY":
        return f"({expression}) IS NOT NULL", []
    if op == "NOT_HAS_PROPERTY":
        return f"({expression}) IS NULL", []
    if op in _COMPARE:
        return f"({expression}) {_COMPARE[op]} ?", [_coerce(name, flt.value)]
    if op == "BETWEEN":
        low, high = _coerce(name, flt.value), _coerce(name, flt.highValue)
        return f"({expression}) BETWEEN ? AND ?", [low, high]
    if op in ("IN", "NOT_IN"):
        if not flt.values:
            raise _invalid(f"{op} on {name!r} needs a non-empty 'values' list")
        values = [_coerce(name, v) for v in flt.values]
        negation = "NOT " if op == "NOT_IN" else ""
        marks = ",".join("?" * len(values))
        return f"({expression}) {negation}IN ({marks})", values
    token = str(flt.value or "").strip("*").lower()
    negation = "NOT " if op == "NOT_CONTAINS_TOKEN" else ""
    return f"lower({expression}) {negation}LIKE ? ESCAPE '\\'", [f"%{_escape_like(token)}%"]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _order(sorts: list[Sort | str]) -> str:
    if len(sorts) > 1:
        raise _invalid("Only one sort is supported")
    if not sorts:
        return "id ASC"
    sort = sorts[0]
    if isinstance(sort, str):
        descending = sort.startswith("-")
        sort = Sort(
            propertyName=sort.lstrip("-"), direction="DESCENDING" if descending else "ASCENDING"
        )
    direction = "DESC" if sort.direction == "DESCENDING" else "ASC"
    return f"{_expression(sort.propertyName)} {direction}, id {direction}"


def plan_search(request: SearchRequest) -> SearchPlan:
    """Validate a search request and compile it; raises `HubSpotError` 400 as HubSpot would."""
    if not 0 < request.limit <= MAX_SEARCH_LIMIT:
        raise _invalid(f"limit must be between 1 and {MAX_SEARCH_LIMIT}, got {request.limit}")
    offset = _offset(request.after)
    groups = request.filterGroups
    total_filters = sum(len(g.filters) for g in groups)
    if len(groups) > MAX_GROUPS or total_filters > MAX_FILTERS:
        raise _invalid(
            f"Too many filters: at most {MAX_GROUPS} filterGroups and {MAX_FILTERS} filters"
        )
    if any(len(g.filters) > MAX_FILTERS_PER_GROUP for g in groups):
        raise _invalid(f"A filterGroup may hold at most {MAX_FILTERS_PER_GROUP} filters")
    clauses: list[str] = []
    params: list[object] = []
    for group in groups:
        parts = [_condition(f) for f in group.filters]
        if parts:
            clauses.append("(" + " AND ".join(sql for sql, _ in parts) + ")")
            params += [p for _, ps in parts for p in ps]
    where = " OR ".join(clauses) if clauses else "1 = 1"
    if request.query:
        like = f"%{_escape_like(request.query.strip().lower())}%"
        fields = ("email_key", "lower(firstname)", "lower(lastname)", "phone")
        where = f"({where}) AND (" + " OR ".join(f"{f} LIKE ? ESCAPE '\\'" for f in fields) + ")"
        params += [like] * len(fields)
    limit = min(request.limit, SEARCH_WINDOW - offset)
    return SearchPlan(where, tuple(params), _order(request.sorts), limit, offset)


def _offset(after: str | int | None) -> int:
    if after is None or after == "":
        return 0
    try:
        offset = int(after)
    except ValueError:
        raise _invalid(f"Invalid 'after' value {after!r}") from None
    if offset < 0:
        raise _invalid(f"Invalid 'after' value {after!r}")
    if offset >= SEARCH_WINDOW:
        raise HubSpotError(
            400,
            f"Search results are limited to {SEARCH_WINDOW} records; 'after' {offset} is past "
            "the last page. Narrow the query, e.g. by lastmodifieddate, instead of paging further.",
            "VALIDATION_ERROR",
        )
    return offset


def page_json(total: int, offset: int, count: int) -> dict[str, Any] | None:
    """`paging` for a search response: a next page while results remain (even past the window)."""
    following = offset + count
    if count == 0 or following >= total:
        return None
    return {"next": {"after": str(following)}}
