"""The daemon's HTTP surface: /healthz, /readyz, /metrics and signed webhooks."""

from __future__ import annotations

from consent_sync.daemon.http.health import (
    HttpServer,
    health_app,
    readiness_problems,
)
from consent_sync.daemon.http.webhooks import (
    MalformedWebhook,
    signature_v3,
    signature_valid,
    webhook_router,
)

__all__ = [
    "HttpServer",
    "MalformedWebhook",
    "health_app",
    "readiness_problems",
    "signature_v3",
    "signature_valid",
    "webhook_router",
]
