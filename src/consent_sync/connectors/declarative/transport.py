"""How a declarative connector reaches its system: one httpx client, the credential, the rate
budget, the one retry layer, and every answer classified into the protocol's typed errors.

httpx here ignores proxy and CA environment variables (`trust_env=False`), follows no redirect,
and trusts exactly the configured CA file (or certifi's bundle). Error messages name the method,
the path (never the query, which may hold an API key) and what the system said, with secrets
removed and emails as pseudonyms.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from consent_sync.config.declarative import ErrorRule, QuotaHeaders
from consent_sync.config.declarative_paths import RecordPath
from consent_sync.connectors.declarative.auth import AuthSpec, Credentials
from consent_sync.connectors.declarative.classify import Purpose, Verdict, classify, json_body
from consent_sync.connectors.http import ssl_context
from consent_sync.connectors.protocol import (
    AuthError,
    ConnectorError,
    PermanentError,
    QuotaExhausted,
    TransientError,
)
from consent_sync.connectors.ratelimit import TokenBucket
from consent_sync.connectors.retry import RetryPolicy, call_with_retry, parse_retry_after
from consent_sync.domain.records import Quota
from consent_sync.redaction import redact_text

_SHOWN = 200  # characters of a system's own error message kept in ours


class RecordGone(PermanentError):
    """The record addressed no longer exists."""


class NotRepresentable(PermanentError):
    """The system cannot take the value written (e.g. re-subscribing an unsubscribed member)."""


class ResumeExpired(PermanentError):
    """A change-tracking link is no longer valid: everything must be read again."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the system is, how to trust it, and the requester's settings."""

    system: str
    base_url: str
    headers: Mapping[str, str]
    ca_file: str | None
    timeout: float
    requests_per_second: float
    rules: Sequence[ErrorRule] = ()
    quota: QuotaHeaders | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx answer: its status, headers, JSON (None when `raw`) and raw body."""

    status: int
    headers: httpx.Headers
    body: Any
    content: bytes = field(repr=False, default=b"")


class Transport:
    """Sends requests under the budget and the retry policy; answers or typed errors."""

    def __init__(self, endpoint: Endpoint, auth: AuthSpec | None, retry: RetryPolicy) -> None:
        self.endpoint = endpoint
        self.system = endpoint.system
        self.retry = retry
        self.base_url = endpoint.base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        self.http = httpx.Client(
            verify=_trust(endpoint),
            timeout=endpoint.timeout,
            trust_env=False,
            follow_redirects=False,
        )
        self.credentials = Credentials(auth, system=endpoint.system, client=self.http, retry=retry)
        self._budget = TokenBucket(endpoint.requests_per_second)
        self._lock = threading.Lock()
        self._quota = Quota()
        self.api_calls = 0

    @property
    def quota(self) -> Quota:
        return self._quota

    def url(self, path_or_link: str) -> str:
        """A path from the base URL, or a link the system gave, checked to stay on its host."""
        if "://" not in path_or_link:
            separator = "" if path_or_link.startswith("/") else "/"
            return f"{self.base_url}{separator}{path_or_link}"
        if _origin(path_or_link) != self._origin:
            raise PermanentError(
                "the answer links to another host; the link is not followed", system=self.system
            )
        return path_or_link

    def request(
        self,
        method: str,
        path_or_link: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        rules: Sequence[ErrorRule] = (),
        purpose: Purpose = "listing",
        raw: bool = False,
        listing: RecordPath | None = None,
        object_type: str | None = None,
        record_id: str | None = None,
    ) -> Answer:
        """Send one request, retried per the policy; its 2xx answer (JSON unless `raw`).

        With `listing`, an answer that holds no list there is malformed (and retried).

        Raises `RecordGone`, `NotRepresentable`, `ResumeExpired`, `AuthError`, `QuotaExhausted`,
        `PermanentError`, or `TransientError` once retries are spent.
        """
        url = self.url(path_or_link)
        what = f"{method} {urlsplit(url).path}"
        ctx: dict[str, Any] = {"system": self.system, "object_type": object_type}
        if record_id is not None:
            ctx["record_id"] = record_id

        def attempt() -> Answer:
            renewed = False
            while True:
                response = self._send(method, url, params, headers, json, content, what, ctx)
                if response.status_code == 401 and not renewed and self.credentials.renew():
                    renewed = True  # one fresh token, then a 401 is an answer
                    continue
                answer = self._answer(response, what, ctx, rules, purpose, raw)
                if listing is not None and not isinstance(listing.get(answer.body), list):
                    raise TransientError(f"{what}: malformed response body (no record list)", **ctx)
                return answer

        return call_with_retry(attempt, self.retry)

    def close(self) -> None:
        self.http.close()

    # -- one attempt ------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        content: bytes | None,
        what: str,
        ctx: Mapping[str, Any],
    ) -> httpx.Response:
        sent_headers = merge_headers(self.endpoint.headers, headers or {})
        sent_params: dict[str, Any] = dict(params or {})
        self.credentials.apply(sent_headers, sent_params)
        self._budget.acquire()
        with self._lock:
            self.api_calls += 1
        try:
            return self.http.request(
                method,
                url,
                params=sent_params or None,
                headers=sent_headers,
                json=json,
                content=content,
            )
        except httpx.TransportError as exc:
            raise TransientError(f"{what}: {type(exc).__name__}", **ctx) from exc

    def _answer(
        self,
        response: httpx.Response,
        what: str,
        ctx: Mapping[str, Any],
        rules: Sequence[ErrorRule],
        purpose: Purpose,
        raw: bool,
    ) -> Answer:
        self._note_quota(response.headers)
        status = response.status_code
        try:
            content = response.content
        except httpx.TransportError as exc:  # the body was cut off
            raise TransientError(f"{what}: {type(exc).__name__}", **ctx) from exc
        if 200 <= status < 300:
            if raw:
                return Answer(status, response.headers, None, content)
            if not content.strip():
                return Answer(status, response.headers, None, content)
            body = json_body(content)
            if body is None:
                raise TransientError(f"{what}: malformed response body", **ctx)
            return Answer(status, response.headers, body, content)
        body = json_body(content)
        verdict = classify(status, body, [*rules, *self.endpoint.rules], purpose)
        raise self.error(verdict, f"{what}: HTTP {status}{self.said(body)}", status, response, ctx)

    def error(
        self,
        verdict: Verdict,
        message: str,
        status: int,
        response: httpx.Response | None,
        ctx: Mapping[str, Any],
    ) -> ConnectorError:
        """The typed error a verdict means."""
        args: dict[str, Any] = {**ctx, "status": status}
        action = verdict.action
        if action == "transient":
            header = response.headers.get("retry-after") if response is not None else None
            wait = parse_retry_after(header, datetime.now(UTC))
            return TransientError(message, retry_after=wait or verdict.retry_after, **args)
        errors: dict[str, type[ConnectorError]] = {
            "auth": AuthError,
            "quota": QuotaExhausted,
            "gone": RecordGone,
            "unrepresentable": NotRepresentable,
            "expired": ResumeExpired,
        }
        return errors.get(action, PermanentError)(message, **args)

    def said(self, body: Any) -> str:
        """What an error answer says, short: its code or title and message, scrubbed."""
        parts: list[str] = []
        if isinstance(body, Mapping):
            nested = body.get("error")
            inner: Mapping[str, Any] = nested if isinstance(nested, Mapping) else body
            for key in ("code", "title", "error_code", "message", "detail", "error"):
                value = inner.get(key)
                if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                    parts.append(str(value))
        return f" {self.scrub(' '.join(dict.fromkeys(parts)))}" if parts else ""

    def scrub(self, text: str) -> str:
        """`text` without this connector's secrets, emails as pseudonyms, shortened."""
        for secret in self.credentials.secrets():
            text = text.replace(secret, "***")
        return redact_text(text)[:_SHOWN]

    def _note_quota(self, headers: httpx.Headers) -> None:
        spec = self.endpoint.quota
        if spec is None:
            return
        used, limit, remaining = (
            _number(headers.get(name)) if name else None
            for name in (spec.used, spec.limit, spec.remaining)
        )
        if used is None and limit is not None and remaining is not None:
            used = limit - remaining
        if limit is None and used is not None and remaining is not None:
            limit = used + remaining
        if used is not None or limit is not None:
            self._quota = Quota(used, limit)


def merge_headers(
    base: Mapping[str, str], extra: Mapping[str, str], *, join: bool = False
) -> dict[str, str]:
    """`base` with `extra` over it, names compared without case; with `join`, a header in both
    (`Prefer` in a stream and in its cursor) is sent once with both values, comma-separated."""
    merged = dict(base)
    for name, value in extra.items():
        existing = next((key for key in merged if key.lower() == name.lower()), None)
        if existing is not None:
            current = merged.pop(existing)
            if join and current and current != value:
                value = f"{current}, {value}"
        merged[name] = value
    return merged


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip().isdigit() else None


def _trust(endpoint: Endpoint) -> Any:
    try:
        return ssl_context(endpoint.ca_file)
    except (OSError, ValueError) as exc:
        raise PermanentError(
            f"cannot load the CA bundle {endpoint.ca_file}: {exc}", system=endpoint.system
        ) from exc
