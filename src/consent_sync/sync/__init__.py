"""One sync cycle for one system: pull, map, reconcile and commit, then push the outbox
(docs/design.md, "The sync cycle"). It wires connectors, the domain and the store together.
"""

from __future__ import annotations

from consent_sync.sync.engine import (
    CycleReport,
    SyncEngine,
)
from consent_sync.sync.targeted_read import (
    NamedReads,
    read_named,
)

__all__ = [
    "CycleReport",
    "NamedReads",
    "SyncEngine",
    "read_named",
]
