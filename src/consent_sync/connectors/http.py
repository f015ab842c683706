"""HTTP plumbing shared by connectors: sessions without hidden retries, timeouts, TLS trust."""

from __future__ import annotations

import ssl
from typing import Any

import certifi
import requests
from requests.adapters import HTTPAdapter

from consent_sync.connectors.ratelimit import TokenBucket


class TimeoutSession(requests.Session):
    """A requests.Session with a default timeout, a CA bundle and no adapter-level retries.

    simple-salesforce sends every call through the session it is given, so this is where
    timeouts, trust and the client-side rate budget are set; retries live in
    `consent_sync.connectors.retry` only.
    """

    def __init__(
        self, timeout: float, ca_file: str | None, budget: TokenBucket | None = None
    ) -> None:
        super().__init__()
        # With trust_env, requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override `verify`
        # and picks proxies from the environment: the configured CA file would be ignored.
        self.trust_env = False
        self.proxies = {}
        self.verify = ca_file or True
        self.default_timeout = timeout
        self.budget = budget
        adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=8)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        if self.budget is not None:
            self.budget.acquire()
        return super().request(method, url, *args, **kwargs)


def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Trust for httpx clients, as for requests sessions: the CA file, else certifi's bundle."""
    return ssl.create_default_context(cafile=ca_file or certifi.where())
