"""One sync cycle for one system: pull, map, reconcile and commit, then push the outbox
(docs/design.md, "The sync cycle"). It wires connectors, the domain and the store together.
"""

from __future__ import annotations

from consent_sync.sync.engine import (
    SyncEngine,
)
from consent_sync.sync.report import (
    CycleReport,
)

__all__ = [
    "CycleReport",
    "SyncEngine",
]
