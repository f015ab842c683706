"""One PATCH /composite/sobjects batch: per-record results, locked rows sent again.

(docs/design.md, "Connectors")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import structlog
from simple_salesforce.api import Salesforce

from consent_sync.connectors.protocol import TransientError
from consent_sync.connectors.retry import RetryPolicy, call_with_retry
from consent_sync.connectors.salesforce.results import write_results
from consent_sync.domain.records import FieldWrite, WriteResult

log = structlog.get_logger("consent_sync.connectors.salesforce.connector")

#: `once(fn)`: one try of an API call, its failure translated into the connector's errors (it
#: re-authenticates once across the tries of one batch).
Once = Callable[[Callable[[Salesforce], Any]], Any]


def write_batch(
    once: Once,
    object_type: str,
    batch: Sequence[FieldWrite],
    *,
    system: str,
    retry: RetryPolicy,
) -> list[WriteResult]:
    """Write up to 200 records, `allOrNone: false`: one result per write, in order.

    Records refused with a row lock (or left unanswered) are sent again under the retry policy;
    a batch whose call keeps failing transiently comes back as retryable results. Auth, quota
    and other request-level refusals raise.
    """
    results: list[WriteResult | None] = [None] * len(batch)
    pending = list(range(len(batch)))

    def attempt() -> None:
        body = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": object_type}, "id": w.record_id, **w.values}
                for w in (batch[i] for i in pending)
            ],
        }
        answer = once(lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body))
        if not isinstance(answer, list):
            raise TransientError(
                "composite update: answer is not a list of results",
                system=system,
                object_type=object_type,
            )
        outcomes = write_results([batch[i] for i in pending], answer)
        for index, outcome in zip(pending, outcomes, strict=True):
            results[index] = outcome
        pending[:] = [i for i, o in zip(pending, outcomes, strict=True) if o.retryable]
        if pending:
            raise TransientError(
                f"composite update: {len(pending)} records locked or unanswered",
                system=system,
                object_type=object_type,
            )

    unanswered = "not written"
    try:
        call_with_retry(attempt, retry)
    except TransientError as exc:
        unanswered = f"not written: {exc}"
        log.warning("write batch left retryable", system=system, error=str(exc))
    return [
        r or WriteResult(w.record_id, False, unanswered, retryable=True)
        for w, r in zip(batch, results, strict=True)
    ]
