"""What one unit of work for one system did: printed by `sync`, recorded as a sync run, counted
in the daemon's metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class CycleReport:
    """What one cycle for one system did; printed by `sync` and recorded as a sync run."""

    system: str
    records_read: int = 0
    unreadable: int = 0  # records holding a value that would not parse (each a conflict)
    observations: int = 0
    unmatched: int = 0
    decisions: int = 0
    queued: int = 0
    conflicts: Counter[str] = field(default_factory=Counter)
    links_ended: int = 0
    writes_ok: int = 0
    writes_retry: int = 0
    writes_dead: int = 0
    writes_withheld: int = 0
    api_calls: int = 0
    duration_s: float = 0.0
    error: str | None = None
    #: Seconds from decision to confirmed write of each denial this run applied (SLA metrics).
    applied_revocations_s: list[float] = field(default_factory=list)

    def merged(self, other: CycleReport) -> CycleReport:
        """This report plus another of the same system (a pull and its later push)."""
        out = CycleReport(self.system)
        for name in (
            "records_read",
            "unreadable",
            "observations",
            "unmatched",
            "decisions",
            "queued",
            "links_ended",
            "writes_ok",
            "writes_retry",
            "writes_dead",
            "writes_withheld",
            "api_calls",
            "duration_s",
        ):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        out.conflicts = self.conflicts + other.conflicts
        out.applied_revocations_s = self.applied_revocations_s + other.applied_revocations_s
        out.error = self.error or other.error
        return out

    def counts(self) -> dict[str, int]:
        out = {
            "records_read": self.records_read,
            "unreadable": self.unreadable,
            "observations": self.observations,
            "unmatched": self.unmatched,
            "decisions": self.decisions,
            "queued": self.queued,
            "links_ended": self.links_ended,
            "writes_ok": self.writes_ok,
            "writes_retry": self.writes_retry,
            "writes_dead": self.writes_dead,
            "writes_withheld": self.writes_withheld,
            "api_calls": self.api_calls,
        }
        out.update({f"conflicts.{k}": v for k, v in sorted(self.conflicts.items())})
        return out
