"""`consent-sync ledger`: verify the hash chain, print its head to anchor it, export it."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from consent_sync.cli.options import CONFIG_OPTION, EXIT_USAGE, fail, timestamp_option
from consent_sync.domain import Purpose, Status

if TYPE_CHECKING:
    from consent_sync.store.ledger import Anchor, LedgerCheck
    from consent_sync.store.tables import LedgerRow

K = TypeVar("K")

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
def verify(
    expect_head: str | None = typer.Option(
        None,
        "--expect-head",
        metavar="SEQ:HASH",
        help="An anchor `ledger head` printed earlier: the chain must still hold that row with "
        "that hash and continue from it (nothing cut off or rewritten since).",
    ),
    signature: str | None = typer.Option(
        None,
        "--signature",
        metavar="SIG",
        help="The anchor's signature line (ed25519:...), checked with the public key in "
        "CONSENT_SYNC_LEDGER_VERIFY_KEY.",
    ),
) -> None:
    """Recompute the chain; exit 1 naming the first altered, unlinked or missing row, a damaged
    chain head, or a canonical state that no ledger row decided."""
    expect = _anchor_option(expect_head) if expect_head is not None else None
    if signature is not None:
        if expect is None:
            raise fail("--signature needs --expect-head: it signs that anchor", EXIT_USAGE)
        _check_signature(expect, signature)
    check = _verified(expect)
    line = f"ledger OK: {check.rows} row(s) verified"
    if expect is not None:
        line += f"; it holds the anchored head {expect}"
        line += " (signature verified)" if signature is not None else ""
    typer.echo(line)


@ledger.command("head")
def head() -> None:
    """Verify the chain, then print its head as SEQ:HASH on the last line, to keep elsewhere.

    With CONSENT_SYNC_LEDGER_SIGNING_KEY set (an Ed25519 private key), an `ed25519:` signature
    of the head comes on the line before it. See docs/operations.md, "Anchoring the ledger".
    """
    from consent_sync.store.signing import sign, signing_key

    key = _keyed(signing_key)
    check = _verified(None)
    if key is not None:
        typer.echo(sign(check.head, key))
    typer.echo(str(check.head))


def _verified(expect: Anchor | None) -> LedgerCheck:
    """The chain checked in one read transaction; exits 1 on the first problem."""
    from consent_sync.cli.stores import opened_store
    from consent_sync.store.db import read_session
    from consent_sync.store.ledger import verify as verify_chain

    with opened_store() as store, read_session(store.engine) as session:
        check = verify_chain(session, expect)
    if check.problem is not None:
        typer.echo(f"ledger verification FAILED: {check.problem}", err=True)
        typer.echo(f"{check.rows} row(s) verified before it", err=True)
        raise typer.Exit(1)
    return check


def _anchor_option(raw: str) -> Anchor:
    from consent_sync.store.ledger import Anchor, LedgerAnchorError

    try:
        return Anchor.parse(raw)
    except LedgerAnchorError as exc:
        raise fail(f"--expect-head {exc}", EXIT_USAGE) from None


def _check_signature(expect: Anchor, raw: str) -> None:
    """Exit 2 on a malformed signature or key, 1 when the key did not sign this anchor."""
    from consent_sync.store.ledger import LedgerAnchorError
    from consent_sync.store.signing import VERIFY_KEY_ENV, parse_signature, signed_by, verify_key

    try:
        signature = parse_signature(raw)
    except LedgerAnchorError as exc:
        raise fail(f"--signature {exc}", EXIT_USAGE) from None
    key = _keyed(verify_key)
    if key is None:
        raise fail(f"--signature needs the public key in {VERIFY_KEY_ENV}", EXIT_USAGE)
    if not signed_by(expect, signature, key):
        raise fail(
            f"the signature is not one of {expect} by the key in {VERIFY_KEY_ENV}: "
            "the anchor or its signature was changed, or another key signed it"
        )


def _keyed(load: Callable[[], K | None]) -> K | None:
    """A key from the environment; exits 2 naming the variable (never its value) if malformed."""
    from consent_sync.store.ledger import LedgerAnchorError

    try:
        return load()
    except LedgerAnchorError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


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
