"""`Store`: the canonical store's public surface for the engine, the CLI and the API.

It opens and closes the database; the work is done by its facets, one per concern:
`decisions` (decide.py), `outbox` (outbox.py), `coordination` (coordination.py), `views`
(views.py), `browse` (browse.py), `tokens` (tokens.py) and `webhooks` (webhooks.py), which
share one `Transactions` (db.py) and so one dry run.
"""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from consent_sync.store.db import Transactions, create_store_engine, database_url
from consent_sync.store.schema import ensure_current

if TYPE_CHECKING:
    from consent_sync.store.browse import Browse
    from consent_sync.store.coordination import Coordination
    from consent_sync.store.decide import Decisions
    from consent_sync.store.outbox import Outbox
    from consent_sync.store.tokens import Tokens
    from consent_sync.store.views import Views
    from consent_sync.store.webhooks import Webhooks


class Store:
    """The canonical consent store over one database (SQLite file or PostgreSQL).

    Each facet is built, and its module imported, when first used: a read command that only
    views the store loads no ingestion or outbox code (docs/performance.md, "CLI start-up").
    """

    def __init__(self, engine: Engine, *, dry_run: bool = False) -> None:
        self._transactions = Transactions(engine, dry_run)

    @cached_property
    def decisions(self) -> Decisions:
        """Ingestion, manual decisions, conflict resolution, repairs."""
        from consent_sync.store.decide import Decisions

        return Decisions(self._transactions)

    @cached_property
    def outbox(self) -> Outbox:
        """The pusher's writes: due, written, withheld, retried, dead, requeued."""
        from consent_sync.store.outbox import Outbox

        return Outbox(self._transactions)

    @cached_property
    def coordination(self) -> Coordination:
        """Cursors, leases and sync runs."""
        from consent_sync.store.coordination import Coordination

        return Coordination(self._transactions)

    @cached_property
    def views(self) -> Views:
        """What the CLI, the API and the metrics read."""
        from consent_sync.store.views import Views

        return Views(self._transactions)

    @cached_property
    def browse(self) -> Browse:
        """The API's paged listings: conflicts, runs, dead letters, deliveries."""
        from consent_sync.store.browse import Browse

        return Browse(self._transactions)

    @cached_property
    def tokens(self) -> Tokens:
        """API tokens (hashes only) and idempotent decisions."""
        from consent_sync.store.tokens import Tokens

        return Tokens(self._transactions)

    @cached_property
    def webhooks(self) -> Webhooks:
        """Webhook events de-duplicated, the records they named queued for a read."""
        from consent_sync.store.webhooks import Webhooks

        return Webhooks(self._transactions)

    @property
    def engine(self) -> Engine:
        """The database engine every facet works through."""
        return self._transactions.engine

    @property
    def dry_run(self) -> bool:
        """Whether every write transaction is rolled back."""
        return self._transactions.dry_run

    @classmethod
    def open(
        cls, url: str | None = None, *, check_schema: bool = True, dry_run: bool = False
    ) -> Store:
        """Connect to `url` (default: `CONSENT_SYNC_DATABASE_URL` or the SQLite file).

        Raises SchemaOutdatedError unless the schema is current (skip with `check_schema`).
        """
        engine = create_store_engine(url or database_url())
        if check_schema:
            try:
                ensure_current(engine)
            except BaseException:
                engine.dispose()
                raise
        return cls(engine, dry_run=dry_run)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
