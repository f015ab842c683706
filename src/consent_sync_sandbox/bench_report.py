"""The benchmark's figures: each with its target and whether it is met; the table and the JSON.

A figure without a target is context (records, seconds). Targets come from the issue that set
them and docs/performance.md: a `<=` or `>=` bound, and where there is one, an aim.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any

#: Libraries whose version changes the figures.
LIBRARIES = (
    "sqlalchemy",
    "sqlmodel",
    "psycopg",
    "alembic",
    "pydantic",
    "httpx",
    "requests",
    "simple-salesforce",
    "hubspot-api-client",
    "fastapi",
    "uvicorn",
    "apscheduler",
    "typer",
)


@dataclass
class Figure:
    """One measured number, its target (`op` `bound`) and whether it is met."""

    scenario: str
    name: str
    value: float | None
    unit: str = ""
    op: str | None = None  # "<=", ">=" or "==" against `bound`
    bound: float | None = None
    aim: float | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.op is None or self.bound is None:
            return None
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return False
        if self.op == "<=":
            return self.value <= self.bound
        if self.op == ">=":
            return self.value >= self.bound
        return self.value == self.bound

    @property
    def target(self) -> str | None:
        if self.op is None:
            return None
        sign = {"<=": "≤", ">=": "≥", "==": "="}[self.op]
        aim = f" (aim {self.aim:g})" if self.aim is not None else ""
        return f"{sign} {self.bound:g}{aim}"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["value"] = None if self.value is None else round(self.value, 4)
        out["target"] = self.target
        out["met"] = self.met
        return out


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (share in 0..1), None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, Python and the versions of the libraries that matter."""
    memory_kib = 0
    model = platform.processor()
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    memory_kib = int(line.split()[1])
        with open("/proc/cpuinfo", encoding="utf-8") as cpus:
            for line in cpus:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "memory_mib": memory_kib // 1024,
        "cpu": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
    }


def _value(figure: Figure) -> str:
    if figure.value is None:
        return "—"
    value = figure.value
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if value else "0"
    return f"{text} {figure.unit}".rstrip()


def table(figures: list[Figure]) -> str:
    """A Markdown table: scenario, figure, value, target, met."""
    rows = ["| scenario | figure | value | target | met |", "|---|---|---|---|---|"]
    for f in figures:
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        note = f" ({f.note})" if f.note else ""
        rows.append(f"| {f.scenario} | {f.name}{note} | {_value(f)} | {f.target or ''} | {met} |")
    return "\n".join(rows)
