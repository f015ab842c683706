"""A Salesforce full read (backfill, sweep, `--full`): REST paging, or a query job when large.

The first REST `queryAll` page both starts the read and counts the object (`totalSize` is the
whole result's size): an object at or under `bulk_threshold` records is read on from there at no
extra cost, and a larger one costs that one call before its query job. A separate COUNT() would
cost a call on every full read, and a job's own `numberRecordsProcessed` is known only once its
overhead (create, polls, delete) is spent — more than REST needs for a small object.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from consent_sync.connectors.window import SeenWindow
from consent_sync.domain.records import Page

if TYPE_CHECKING:
    from consent_sync.connectors.salesforce.connector import SalesforceConnector

log = structlog.get_logger(__name__)


def full_read(
    connector: SalesforceConnector, object_type: str, window: SeenWindow
) -> Iterator[Page]:
    """Every record of the object, deleted ones included, page by page.

    Records are remembered in `window` once surely committed (`SeenWindow.track`).
    """
    first, server_clock = connector.first_page(object_type)
    total = first.get("totalSize") if isinstance(first, dict) else None
    if not isinstance(total, int) or total <= connector.settings.bulk_threshold:
        window.begin()
        yield from window.track(connector.scan(object_type, None, first), None)
        return
    # A job holds what matched when it was created: the cursor may go no further than a moment
    # before that, by the server's clock (the local one, less the lookback, without a Date).
    horizon = timedelta(seconds=connector.settings.lookback_seconds)
    started = server_clock or datetime.now(UTC) - horizon
    log.info(
        "full read as a bulk query job",
        system=connector.name,
        object_type=object_type,
        records=total,
    )
    window.begin(started)
    yield from window.track(_job_pages(connector, object_type, started), None)


def _job_pages(
    connector: SalesforceConnector, object_type: str, started: datetime
) -> Iterator[Page]:
    bulk = connector.bulk_query(object_type)
    created = datetime.now(UTC)  # every page holds the records as they were at the job's creation
    for rows in bulk.rows(connector.full_soql(object_type)):
        # Rows come in no stamp order: no page but the last may move the cursor.
        yield Page(connector.page(object_type, rows).records, None, as_of=created)
        connector.bulk_rows_held = max(connector.bulk_rows_held, bulk.rows_held)
    yield Page([], started)
