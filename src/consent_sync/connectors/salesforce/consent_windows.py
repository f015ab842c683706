"""Consent records whose effective window opened or closed since the last look (docs/design.md,
"Salesforce consent records").

An opt-in whose `EffectiveTo` passes is no consent any more, yet nothing about the record
changed: its SystemModstamp stays where it was, so no pull from the cursor returns it. Every
`EDGE_CHECK_EVERY` an incremental pull therefore also asks for the records of mapped purposes
whose `EffectiveTo` or `EffectiveFrom` fell between its last look and now, and hands them over
after the changed ones (one call, and the people lookups for what it finds). The first look of a
process reaches back from the pull's own start (the cursor less the lookback) by one interval
more; a full read is a look of its own. A look counts once the engine has surely committed what
it found (a closing empty page is asked for after it, as `connectors/window.py` does).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from simple_salesforce.format import format_soql

#: How often an incremental pull looks for consent windows that opened or closed.
EDGE_CHECK_EVERY = timedelta(minutes=5)


class WindowEdges:
    """When each consent object's windows were last looked at (per process)."""

    def __init__(self, every: timedelta = EDGE_CHECK_EVERY) -> None:
        self.every = every
        self._looked: dict[str, datetime] = {}

    def due(self, object_type: str, since: datetime, now: datetime) -> datetime | None:
        """From when an incremental pull from `since` should look, or None: not yet."""
        last = self._looked.get(object_type)
        if last is None:
            return since - self.every
        return last if now - last >= self.every else None

    def looked(self, object_type: str, at: datetime) -> None:
        """Every window that opened or closed up to `at` has been read."""
        last = self._looked.get(object_type)
        self._looked[object_type] = at if last is None else max(last, at)


def edge_condition(start: datetime, end: datetime) -> str:
    """SOQL: a window that closed or opened after `start` and no later than `end`."""
    return format_soql(
        "((EffectiveTo > {start} AND EffectiveTo <= {end}) OR "
        "(EffectiveFrom > {start} AND EffectiveFrom <= {end}))",
        start=start,
        end=end,
    )
