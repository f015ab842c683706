"""The JSON API under /api/v1 (docs/api.md): subjects, consents, conflicts, runs, systems and
dead letters, behind scoped bearer tokens, documented by OpenAPI at /openapi.json.

`consent-sync run` mounts it in the daemon's HTTP app; it reads and writes through the store
only, and never imports the CLI.
"""

from __future__ import annotations

from consent_sync.api.app import API_PREFIX, MAX_BODY_BYTES, create_api, guard_metrics
from consent_sync.api.auth import TokenGate, bearer_token, require
from consent_sync.api.context import ApiContext
from consent_sync.api.errors import ApiError

__all__ = [
    "API_PREFIX",
    "MAX_BODY_BYTES",
    "ApiContext",
    "ApiError",
    "TokenGate",
    "bearer_token",
    "create_api",
    "guard_metrics",
    "require",
]
