"""The daemon runtime behind `consent-sync run`: the scheduler, database leases, metrics and
the HTTP app (health, readiness, metrics, webhooks) (docs/design.md, "Processes").
"""

from __future__ import annotations

from consent_sync.daemon.http import (
    HttpServer,
    health_app,
    readiness_problems,
    webhook_router,
)
from consent_sync.daemon.leases import (
    Leases,
)
from consent_sync.daemon.metrics import (
    SyncMetrics,
)
from consent_sync.daemon.named_reads import (
    NamedReads,
)
from consent_sync.daemon.scheduler import (
    SyncScheduler,
    lease_name,
)

__all__ = [
    "HttpServer",
    "Leases",
    "NamedReads",
    "SyncMetrics",
    "SyncScheduler",
    "health_app",
    "lease_name",
    "readiness_problems",
    "webhook_router",
]
