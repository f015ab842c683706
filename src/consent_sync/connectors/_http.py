"""HTTP plumbing shared by connectors: sessions without hidden retries, timeouts, TLS trust."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

#: Names whose values never reach a log line or an error message.
SECRET_KEYS = frozenset(
    {"client_secret", "password", "access_token", "refresh_token", "assertion", "authorization"}
)


class TimeoutSession(requests.Session):
    """A requests.Session with a default timeout, a CA bundle and no adapter-level retries.

    simple-salesforce sends every call through the session it is given, so this is where
    timeouts and trust are set; retries live in `consent_sync.connectors.retry` only.
    """

    def __init__(self, timeout: float, ca_file: str | None) -> None:
        super().__init__()
        self.default_timeout = timeout
        if ca_file:
            self.verify = ca_file
        adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=8)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


def redact(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `data` with secret-named values replaced, for logs and errors."""
    return {k: ("***" if k.lower() in SECRET_KEYS else v) for k, v in data.items()}
