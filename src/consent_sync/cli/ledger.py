"""`consent-sync ledger`: verify the hash chain, export the decisions."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from consent_sync.cli.options import CONFIG_OPTION, timestamp_option
from consent_sync.domain import Purpose, Status

if TYPE_CHECKING:
    from consent_sync.store.tables import LedgerRow

ledger = typer.Typer(help="The append-only, hash-chained decision ledger.", no_args_is_help=True)

COLUMNS = (
    "seq",
    "recorded_at",
    "decided_at",
    "time_kind",
    "subject",
    "purpose",
    "previous",
    "status",
    "explicit",
    "regime",
    "permitted",
    "source",
    "link",
    "rule",
    "evidence",
    "prev_hash",
    "hash",
)


class ExportFormat(StrEnum):
    """Output formats of `ledger export`."""

    JSONL = "jsonl"
    CSV = "csv"


@ledger.command("verify")
def verify() -> None:
    """Recompute the chain; exit 1 naming the first altered, unlinked or missing row."""
    from consent_sync.cli.stores import opened_store

    with opened_store() as store:
        check = store.views.verify_ledger()
    if check.problem is not None:
        typer.echo(f"ledger verification FAILED: {check.problem}", err=True)
        typer.echo(f"{check.rows} row(s) verified before it", err=True)
        raise typer.Exit(1)
    typer.echo(f"ledger OK: {check.rows} row(s) verified")


@ledger.command("export")
def export(
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only rows recorded at or after this ISO 8601 time (UTC if no offset).",
    ),
    output_format: ExportFormat = typer.Option(ExportFormat.JSONL, "--format"),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Stream the ledger to stdout in sequence order, as JSON lines or CSV.

    Each row says whether it is an explicit decision (a grant or a denial a person made) or
    only "not opted out", and, with the configuration's purposes, what its purpose's regime
    makes of it (`permitted`: may the person be contacted on this row's status).
    """
    from consent_sync.cli.stores import opened_store, purposes_from
    from consent_sync.config import default_config_dir

    has_purposes = (default_config_dir(config) / "mappings" / "purposes.yaml").is_file()
    purposes = purposes_from(config) if config is not None or has_purposes else {}

    start = timestamp_option(since, "--since") if since is not None else None
    out = sys.stdout
    writer = csv.writer(out) if output_format is ExportFormat.CSV else None
    if writer is not None:
        writer.writerow(COLUMNS)
    with opened_store() as store:
        for row in store.views.ledger(since=start):
            record = as_record(row, purposes.get(row.purpose))
            if writer is None:
                out.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
            else:
                record["evidence"] = json.dumps(record["evidence"], sort_keys=True)
                writer.writerow([record[column] for column in COLUMNS])
    out.flush()


def as_record(row: LedgerRow, purpose: Purpose | None = None) -> dict[str, Any]:
    """A ledger row as plain JSON-ready data, in export column order."""
    status = Status(row.status)
    return {
        "seq": row.seq,
        "recorded_at": row.recorded_at.isoformat(),
        "decided_at": row.decided_at.isoformat(),
        "time_kind": row.time_kind,
        "subject": str(row.subject_id),
        "purpose": row.purpose,
        "previous": row.previous,
        "status": row.status,
        "explicit": status.explicit,
        "regime": purpose.regime.value if purpose else None,
        "permitted": purpose.permits(status) if purpose else None,
        "source": row.source,
        "link": row.link,
        "rule": row.rule,
        "evidence": row.evidence,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }
