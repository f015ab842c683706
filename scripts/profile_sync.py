"""Where one `consent-sync sync` spends its time: record it with py-spy, summarize the samples.

    .venv/bin/pip install py-spy          # a profiler for yourself; not a project dependency
    . .sandbox/env                        # a `consent-sync sandbox --contacts 20000` running
    export CONSENT_SYNC_DATABASE_URL=sqlite:////tmp/p.db  # a fresh store
    .venv/bin/consent-sync db upgrade
    .venv/bin/python scripts/profile_sync.py --record /tmp/s.raw -- .venv/bin/consent-sync sync
    .venv/bin/python scripts/profile_sync.py /tmp/sync.raw

`--record FILE -- COMMAND...` runs COMMAND under `py-spy record --format raw` (collapsed stacks;
`--idle` adds the samples of threads waiting). Given a raw file, it prints the share of samples
by where the leaf frame is (SQLAlchemy/SQLite/psycopg, our own code, JSON and the CRM SDKs, HTTP,
other), then the consent_sync functions by inclusive share, then the top leaf frames.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_LINE = re.compile(r":\d+\)")
_KINDS = (
    ("database", ("sqlalchemy", "sqlite", "psycopg", "sqlmodel")),
    ("ours", ("consent_sync/",)),
    ("json/sdk", ("json", "pydantic", "dateutil", "simple_salesforce", "hubspot/", "csv")),
    ("http", ("ssl", "socket", "http", "urllib3", "requests")),
)


def _kind(frame: str) -> str:
    for kind, marks in _KINDS:
        if any(mark in frame for mark in marks):
            return kind
    return "other"


def summarize(raw: Path, top: int = 40) -> str:
    """The summary of a py-spy raw (collapsed stacks) file."""
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += samples
        leaves[frames[-1]] += samples
        kinds[_kind(frames[-1])] += samples
    out = [f"{total} samples"]
    out += [f"  {kind:<10} {100 * n / total:5.1f}%" for kind, n in kinds.most_common()]
    out.append("consent_sync functions, inclusive:")
    ours = [(f, n) for f, n in inclusive.most_common() if "consent_sync/" in f]
    out += [f"  {100 * n / total:5.1f}% {f}" for f, n in ours[:top] if n / total >= 0.01]
    out.append("leaf frames:")
    out += [f"  {100 * n / total:5.1f}% {f}" for f, n in leaves.most_common(15)]
    return "\n".join(out)


def record(raw: Path, command: Sequence[str]) -> int:
    """Run `command` under py-spy, writing collapsed stacks to `raw`; its exit status."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    argv = [spy, "record", "--rate", "50", "--format", "raw", "--output", str(raw), "--"]
    # The operator's own command line, run as given (no shell).
    return subprocess.run([*argv, *command], check=False).returncode  # noqa: S603


def main(argv: Sequence[str]) -> int:
    if len(argv) >= 3 and argv[0] == "--record" and "--" in argv:
        raw = Path(argv[1])
        status = record(raw, argv[argv.index("--") + 1 :])
        if status == 0:
            print(summarize(raw))
        return status
    if len(argv) == 1:
        print(summarize(Path(argv[0])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
