"""Logging set up on first use, for the read commands (`status`, `ledger`, `subject`).

Setting up the logging pipeline (`consent_sync.logs.configure`) imports structlog and rich,
about a tenth of a read command's start-up (docs/performance.md, "CLI start-up"), and these
commands log nothing when all goes well. So they install this instead: the first log record at
the requested level, or an exception nobody caught, sets the pipeline up and is then handled by
it, redacted like any other line. These commands must not log through structlog directly, which
would bypass this; tests/cli/test_startup.py checks that they do not import it.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from types import TracebackType


class _Deferred:
    """One command's deferred set-up: at most once, at `level`."""

    def __init__(self, level: str) -> None:
        self.level = level
        self.done = False

    def configure(self) -> None:
        if not self.done:
            self.done = True
            from consent_sync.logs import configure

            configure(self.level)  # also replaces the uncaught-exception hooks with its own


class _ConfigureOnFirstRecord(logging.Handler):
    """A root handler that sets the pipeline up when the first record comes, then does nothing.

    The pipeline's own handler is appended to the root's handlers while the root is handing
    this record to them one by one, so it handles this record next (a list iterated by index
    reaches what is appended to it); this handler stays, inert, so nothing shifts.
    """

    def __init__(self, deferred: _Deferred) -> None:
        super().__init__(logging.NOTSET)
        self.deferred = deferred

    def emit(self, record: logging.LogRecord) -> None:
        self.deferred.configure()


def defer(level: str) -> Callable[[], None]:
    """Set logging up at `level` when something first logs or an exception goes uncaught.

    Returns what to call when the command is over: it takes the root handler away again and,
    if nothing logged, puts the root level back (for commands run in-process, as tests do).
    An uncaught exception still sets the pipeline up after that, to be logged redacted.
    """
    deferred = _Deferred(level)
    root = logging.getLogger()
    previous = root.level
    numeric = logging.getLevelName(level.upper())
    root.setLevel(numeric if isinstance(numeric, int) else logging.INFO)
    handler = _ConfigureOnFirstRecord(deferred)
    root.addHandler(handler)
    before_process, before_thread = sys.excepthook, threading.excepthook

    def in_process(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        deferred.configure()
        hook = sys.excepthook if sys.excepthook is not in_process else before_process
        hook(exc_type, exc, tb)

    def in_thread(args: threading.ExceptHookArgs) -> None:
        deferred.configure()
        hook = threading.excepthook if threading.excepthook is not in_thread else before_thread
        hook(args)

    sys.excepthook = in_process
    threading.excepthook = in_thread

    def over() -> None:
        root.removeHandler(handler)
        if not deferred.done:
            root.setLevel(previous)

    return over
