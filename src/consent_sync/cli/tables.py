"""Plain-text and JSON rendering helpers shared by the commands."""

from __future__ import annotations

from datetime import datetime


def iso(value: datetime | None) -> str | None:
    """ISO 8601 or None, for JSON output."""
    return value.isoformat() if value is not None else None


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as left-aligned columns, indented, with a header; `(none)` when empty."""
    if not rows:
        return ["  (none)"]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  "
        + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
