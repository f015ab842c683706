"""An incremental Salesforce pull from `cursor - lookback`, one call when nothing is new.

The engine reads from behind its cursor to catch records committed late with earlier stamps.
Once a pull has read that window, the next one asks for its newest page (`ORDER BY
SystemModstamp DESC`) whose `totalSize` counts the whole window: when the records remembered
from before and that page add up to the count, every record outside the page is one already
delivered, unchanged, and the page's new or changed records are the whole answer. A count that
does not add up (a late commit, a purge) reads the window oldest first as before, handing over
only what is new or changed (`connectors/window.py`).

What that leaves to the nightly sweep: with more than one page of records in the window, a
change committed late to a record already read, stamped older than the window's newest page,
that coincides with no change in the count.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from consent_sync.connectors.window import SeenWindow
from consent_sync.domain.records import Page

if TYPE_CHECKING:
    from consent_sync.connectors.salesforce.connector import SalesforceConnector


def incremental_read(
    connector: SalesforceConnector, object_type: str, since: datetime, window: SeenWindow
) -> Iterator[Page]:
    """Records stamped at or after `since` (to the second) not already delivered unchanged."""
    edge = since.replace(microsecond=0)  # SOQL datetime literals carry no fraction
    known = window.covers(edge)
    if known:
        records, total = connector.newest(object_type, since)
        if total is not None and window.accounts_for(edge, {r.record_id for r in records}, total):
            fresh = sorted(window.unseen(records), key=lambda r: (r.modified_at, r.record_id))
            watermark = max((r.modified_at for r in fresh if r.readable), default=None)
            yield from window.track([Page(fresh, watermark)], edge)
            return
    window.begin()
    pages = connector.changed_since(object_type, since)
    if known:  # what was delivered before need not be handed over again
        pages = (Page(window.unseen(p.records), p.watermark) for p in pages)
    yield from window.track(pages, edge)
