"""The read commands' logging, set up on first use: nothing loaded until something logs, then
every line goes through the same redacting pipeline, exactly once.

Each case runs in a fresh interpreter: setting logging up changes process-wide hooks.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from typing import Any

EMAIL = "ada.lovelace@example.com"

_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from consent_sync.cli.deferred_logging import defer

    over = defer(sys.argv[1])
    print("structlog loaded before any record:", "structlog" in sys.modules, file=sys.stderr)
    logging.getLogger("psycopg").info("an INFO line about {email}")
    logging.getLogger("psycopg").warning("a notice about {email}")
    logging.getLogger("psycopg").warning("a second notice")
    raise ValueError("{email} could not be read")
    """
).format(email=EMAIL)


def _run(level: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, level], capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stderr.splitlines()


def _records(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_the_first_record_sets_up_the_redacting_pipeline_and_is_logged_once() -> None:
    """Nothing is loaded before the first record; it and the ones after are JSON lines with
    the email pseudonymised, each once; records below the level are dropped."""
    code, lines = _run("WARNING")
    assert code == 1
    assert lines[0] == "structlog loaded before any record: False"
    records = _records(lines)
    events = [record["event"] for record in records]
    assert len(events) == 3  # two notices and the uncaught exception; no INFO line
    assert re.fullmatch(r"a notice about <email:[0-9a-f]{8}>", events[0])
    assert events[1] == "a second notice"
    assert [record["logger"] for record in records[:2]] == ["psycopg", "psycopg"]
    assert EMAIL not in "\n".join(lines)


def test_an_uncaught_exception_is_logged_by_the_pipeline_redacted() -> None:
    """An exception nobody caught is one redacted JSON line, not Python's plain traceback."""
    code, lines = _run("WARNING")
    assert code == 1
    (uncaught,) = [r for r in _records(lines) if r["event"] == "uncaught exception"]
    assert "<email:" in uncaught["error"]
    assert not any(line.startswith("Traceback") for line in lines)
    assert EMAIL not in "\n".join(lines)


def test_the_requested_level_applies_to_the_deferred_records() -> None:
    """At INFO the INFO record is the one that sets logging up, and it is kept."""
    _, lines = _run("INFO")
    events = [record["event"] for record in _records(lines)]
    assert events[0].startswith("an INFO line about <email:")
    assert len([e for e in events if "notice" in e]) == 2


def test_a_command_that_logged_nothing_leaves_logging_as_it_found_it() -> None:
    """Run in-process (as tests do), a read command that logged nothing takes its handler away
    and puts the root level back, so what the process logs later is set up by whoever sets it
    up, not by a command that finished long ago."""
    script = textwrap.dedent(
        """
        import logging, sys
        from consent_sync.cli.deferred_logging import defer

        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        over = defer("DEBUG")
        over()
        print(root.handlers == handlers, root.level == level, "structlog" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["True", "True", "False"]
