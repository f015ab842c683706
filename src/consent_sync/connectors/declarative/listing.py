"""Paging through a listing as a stream's paginator says (docs/connectors.md, "paginator").

A listing is a first request and the answers that follow it: an offset or page number counted
on, a token or a next link taken from each answer. An offset listing whose total shrinks between
pages is read again from as many places back, so a record deleted before the offset cannot slide
an unread one past it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from consent_sync.config.declarative import (
    CursorPaginator,
    NextLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
)
from consent_sync.config.declarative_paths import MISSING, RecordPath
from consent_sync.connectors.declarative.classify import Purpose
from consent_sync.connectors.declarative.transport import Transport


@dataclass(frozen=True, slots=True)
class Request:
    """One GET of a listing: a path from the base URL (or a link), its query and headers."""

    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    purpose: Purpose = "listing"


def first_params(paginator: Paginator) -> dict[str, Any]:
    """The query a paginator adds to a listing's first request."""
    if isinstance(paginator, OffsetPaginator):
        return {paginator.limit_param: paginator.page_size, paginator.offset_param: 0}
    if isinstance(paginator, PageNumberPaginator):
        params: dict[str, Any] = {paginator.page_param: paginator.start}
        if paginator.size_param is not None:
            params[paginator.size_param] = paginator.page_size
        return params
    return {}


def page_size(paginator: Paginator) -> int | None:
    """Records per page, where the paginator sets it."""
    if isinstance(paginator, OffsetPaginator | PageNumberPaginator):
        return paginator.page_size
    return None


def answers(
    transport: Transport,
    paginator: Paginator,
    records: RecordPath,
    first: Request,
    *,
    object_type: str,
) -> Iterator[tuple[Any, list[Any]]]:
    """Each answer of a listing and its items, page by page until the paginator stops."""
    request: Request | None = first
    state = _State()
    while request is not None:
        answer = transport.request(
            "GET",
            request.path,
            params=request.params,
            headers=request.headers,
            purpose=request.purpose,
            listing=records,
            object_type=object_type,
        )
        body = answer.body
        items: list[Any] = records.get(body)
        yield body, items
        request = _next(paginator, request, body, items, state)


@dataclass
class _State:
    offset: int = 0
    page: int | None = None
    total: int | None = None


def _next(
    paginator: Paginator, request: Request, body: Any, items: list[Any], state: _State
) -> Request | None:
    if isinstance(paginator, OffsetPaginator):
        return _next_offset(paginator, request, body, items, state)
    if isinstance(paginator, PageNumberPaginator):
        if len(items) < paginator.page_size:
            return None
        state.page = (state.page if state.page is not None else paginator.start) + 1
        pages = _int(paginator.total_pages.get(body)) if paginator.total_pages else None
        last = paginator.start + pages - 1 if pages is not None else None
        if last is not None and state.page > last:
            return None
        return replace(request, params={**request.params, paginator.page_param: state.page})
    if isinstance(paginator, NextLinkPaginator):
        link = paginator.path.get(body)
        if not isinstance(link, str) or not link.strip():
            return None
        # The link holds its own query; only the headers carry over.
        return replace(request, path=link.strip(), params={})
    if isinstance(paginator, CursorPaginator):
        token = paginator.path.get(body)
        if token is MISSING or token in (None, "") or isinstance(token, dict | list | bool):
            return None
        return replace(request, params={**request.params, paginator.param: token})
    return None


def _next_offset(
    paginator: OffsetPaginator, request: Request, body: Any, items: list[Any], state: _State
) -> Request | None:
    total = _int(paginator.total.get(body)) if paginator.total else None
    shrunk = total is not None and state.total is not None and total < state.total
    if shrunk and total is not None and state.total is not None:
        # Records gone before this page moved the unread ones forward past its offset: read
        # again from as many places back (what this page held is delivered twice, harmlessly).
        state.offset = max(0, state.offset - (state.total - total))
        state.total = total
        return replace(request, params={**request.params, paginator.offset_param: state.offset})
    state.total = total if total is not None else state.total
    if not items or (total is None and len(items) < paginator.page_size):
        return None
    state.offset += len(items)
    if total is not None and state.offset >= total:
        return None
    return replace(request, params={**request.params, paginator.offset_param: state.offset})


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
