"""How the HubSpot connector reaches HubSpot: one client per API, one retry layer, rate budgets.

hubspot-api-client builds a new urllib3 pool on every `client.crm.contacts.basic_api` access, so
the API objects are built once here. Its retries are off (urllib3 `Retry(total=0)`); httpx (for
Communication Preferences v4) ignores proxy and CA environment variables. Both trust exactly the
configured `ca_file`, or certifi's bundle without one.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import certifi
import httpx
import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

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

T = TypeVar("T")

_API_ERRORS = (ContactsApiException, PropertiesApiException)
#: Seconds to wait after a 429 without Retry-After: the search limit is per second, and the
#: general limit is a rolling window that frees capacity continuously.
_RATE_LIMIT_WAIT = 1.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a HubSpot portal is and how to trust and authenticate to it."""

    system: str
    base_url: str
    access_token: str
    ca_file: str | None
    timeout: float


def trusted_cas(ca_file: str | None) -> str:
    """The CA bundle to trust: `ca_file` when set, else certifi's (never `SSL_CERT_FILE` & co.)."""
    return ca_file or certifi.where()


class HubSpotTransport:
    """The SDK's contact and property APIs and an httpx client, called under budget and retry."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        retry: RetryPolicy,
        requests_per_second: float,
        searches_per_second: float,
    ) -> None:
        self.endpoint = endpoint
        self.system = endpoint.system
        self.retry = retry
        base_url = endpoint.base_url.rstrip("/")
        client = HubSpot(
            access_token=endpoint.access_token,
            host=base_url,
            ssl_ca_cert=trusted_cas(endpoint.ca_file),
            retry=urllib3.Retry(total=0, respect_retry_after_header=False, raise_on_status=False),
        )
        self.contacts = client.crm.contacts.basic_api
        self.contacts_batch = client.crm.contacts.batch_api
        self.contacts_search = client.crm.contacts.search_api
        self.properties = client.crm.properties.core_api
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {endpoint.access_token}"},
            verify=_tls_context(endpoint),
            timeout=endpoint.timeout,
            trust_env=False,
            event_hooks={"response": [self._observe]},
        )
        self._budget = TokenBucket(requests_per_second)
        # No burst for searches: HubSpot counts them per rolling second, so a burst followed by
        # the steady rate would break the limit within the first second.
        self._search_budget = TokenBucket(searches_per_second, burst=1.0)
        self._quota = Quota()
        self._lock = threading.Lock()
        self.api_calls = 0

    @property
    def quota(self) -> Quota:
        return self._quota

    def call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        search: bool = False,
        object_name: str | None = None,
    ) -> T:
        """One API call under the rate budget and the shared retry policy, errors typed."""

        def attempt() -> T:
            (self._search_budget if search else self._budget).acquire()
            with self._lock:
                self.api_calls += 1
            try:
                result = fn()
            except _API_ERRORS as exc:
                raise self.classify(
                    what, exc.status, exc.headers or {}, exc.body, object_name
                ) from exc
            except httpx.HTTPStatusError as exc:
                response = exc.response
                raise self.classify(
                    what, response.status_code, response.headers, response.text, object_name
                ) from exc
            except (urllib3.exceptions.HTTPError, httpx.TransportError) as exc:
                raise TransientError(
                    f"{what}: {type(exc).__name__}", system=self.system, object_type=object_name
                ) from exc
            except ValueError as exc:  # a truncated or malformed JSON body
                raise self._malformed(what, object_name) from exc
            if getattr(result, "results", ()) is None:
                # hubspot-api-client answers an unparseable body with an empty model, not an error
                raise self._malformed(what, object_name)
            return result

        return call_with_retry(attempt, self.retry)

    def sdk(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        search: bool = False,
        object_name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call an SDK `*_with_http_info` method with the timeout; note quota headers; the data."""

        def invoke() -> Any:
            data, _status, headers = method(*args, **kwargs, _request_timeout=self.endpoint.timeout)
            self._note(headers or {})
            return data

        return self.call(what, invoke, search=search, object_name=object_name)

    def sdk_json(
        self,
        what: str,
        method: Callable[..., Any],
        *args: Any,
        listing: str,
        object_name: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Like `sdk`, but the answer's parsed JSON object instead of the SDK's models.

        hubspot-api-client builds a model object per contact and parses each of its timestamps
        with dateutil (the connector reads the stamp it needs itself): for a listing that was
        four times the CPU of reading the JSON (docs/performance.md, "What changed since
        5d4968c"). The SDK still sends the request and raises its errors. An answer whose
        `listing` key is not a list counts as malformed (retried).
        """

        def invoke() -> dict[str, Any]:
            response = method(
                *args, **kwargs, _preload_content=False, _request_timeout=self.endpoint.timeout
            )
            try:
                body = response.data
                self._note(response.headers or {})
            finally:
                response.release_conn()
            parsed = json.loads(body)
            if not isinstance(parsed, dict) or not isinstance(parsed.get(listing), list):
                raise ValueError(f"expected a list in {listing!r}")
            return parsed

        return self.call(what, invoke, object_name=object_name)

    def post_json(
        self,
        path: str,
        body: Mapping[str, Any],
        params: Mapping[str, str] | None = None,
        *,
        listing: str | None = None,
    ) -> dict[str, Any]:
        """POST over httpx (for endpoints the SDK lacks); the parsed JSON object answered.

        With `listing`, an answer whose `listing` key is not a list counts as malformed (retried).
        """

        def post() -> dict[str, Any]:
            response = self.http.post(path, params=params, json=body)
            response.raise_for_status()
            parsed = response.json()
            if not isinstance(parsed, dict):
                raise ValueError("expected a JSON object")
            if listing is not None and not isinstance(parsed.get(listing), list):
                raise ValueError(f"expected a list in {listing!r}")
            return parsed

        return self.call(path, post)

    def get_json(self, path: str) -> dict[str, Any]:
        """GET over httpx; the parsed JSON object answered."""

        def get() -> dict[str, Any]:
            response = self.http.get(path)
            response.raise_for_status()
            parsed = response.json()
            if not isinstance(parsed, dict):
                raise ValueError("expected a JSON object")
            return parsed

        return self.call(path, get)

    def classify(
        self,
        what: str,
        status: int | None,
        headers: Mapping[str, str],
        body: Any,
        object_name: str | None = None,
    ) -> ConnectorError:
        """A failed response as the typed error the retry layer and the engine act on."""
        self._note(headers)
        parsed = _json_object(body)
        category = str(parsed.get("category") or "")
        policy = str(parsed.get("policyName") or "")
        message = f"{what}: HTTP {status} {category} {policy}".strip()
        code = status or 0
        ctx: dict[str, Any] = {"system": self.system, "object_type": object_name, "status": code}
        if code == 401:
            return AuthError(message, **ctx)
        if code == 429 and policy == "DAILY":
            return QuotaExhausted(message, **ctx)
        if code == 429 or code >= 500 or code == 0:
            lowered = {k.lower(): v for k, v in headers.items()}
            retry_after = parse_retry_after(lowered.get("retry-after"), datetime.now(UTC))
            if code == 429 and retry_after is None:
                retry_after = _RATE_LIMIT_WAIT
            return TransientError(message, retry_after=retry_after, **ctx)
        return PermanentError(message, **ctx)

    def close(self) -> None:
        """Close the httpx client and the SDK's connection pools."""
        self.http.close()
        for api in (self.contacts, self.contacts_batch, self.contacts_search, self.properties):
            api.api_client.rest_client.pool_manager.clear()

    def _malformed(self, what: str, object_name: str | None) -> TransientError:
        return TransientError(
            f"{what}: malformed response body", system=self.system, object_type=object_name
        )

    def _observe(self, response: httpx.Response) -> None:
        self._note(response.headers)

    def _note(self, headers: Mapping[str, str]) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        daily = lowered.get("x-hubspot-ratelimit-daily", "")
        remaining = lowered.get("x-hubspot-ratelimit-daily-remaining", "")
        if daily.isdigit() and remaining.isdigit():
            self._quota = Quota(int(daily) - int(remaining), int(daily))


def _tls_context(endpoint: Endpoint) -> ssl.SSLContext:
    cafile = trusted_cas(endpoint.ca_file)
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise PermanentError(
            f"cannot load the CA bundle {cafile}: {exc}", system=endpoint.system
        ) from exc


def _json_object(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
