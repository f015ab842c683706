"""Logging: structlog to stderr, JSON when not on a TTY, emails and secrets redacted.

Failures caught where a job or a thread ends are logged in one of two ways. An expected failure
(a `ConsentSyncError`, or a database that is away) is one line: its message says what and
where. Anything else is a bug and carries its traceback (`bug_traceback`): structured frames in
JSON (`exception`: type, message, file, line and function of each frame; never the frames'
local variables, which may hold emails and secrets), a plain traceback on a console. An
exception nobody caught (a thread's, the process's) is logged the same way. Either way the
redaction reaches into it. Records of the standard library's `logging` (uvicorn, APScheduler,
urllib3, httpx) go through the same processors, so the same redaction.

Redaction (`consent_sync.redaction`, which needs no structlog): a value under a secret-named
key becomes `***`; so does the value of any secret-named environment variable (`*_SECRET`,
`*_TOKEN`, `*_PASSWORD`, `*_KEY`), a bearer token and the credentials of a URL, wherever they
appear. Anything shaped like an email address (`@` or URL-encoded `%40`) becomes
`<email:1a2b3c4d>`: the first 8 hex digits of an HMAC-SHA256 of the normalized address, so the
lines about one person can be found together without naming them. The key is
`CONSENT_SYNC_LOG_KEY` if set, else derived from `CONSENT_SYNC_DATABASE_URL`: stable across the
replicas and restarts of one deployment, different between deployments. Set
`CONSENT_SYNC_LOG_KEY` to a secret: without it anyone who knows the database URL and guesses an
address can confirm the guess.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping, MutableMapping
from types import TracebackType
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import Processor

from consent_sync.errors import ConsentSyncError
from consent_sync.redaction import redact_text, refresh_redaction

_SECRET_KEYS = frozenset(
    {"password", "client_secret", "access_token", "token", "authorization", "secret"}
)
# Frames only: a frame's locals may hold emails, tokens or a whole record.
_DICT_TRACEBACKS = structlog.processors.ExceptionRenderer(
    ExceptionDictTransformer(show_locals=False)
)
# Libraries that log every request (alembic: every schema check) at INFO or DEBUG: heard only
# at DEBUG.
_CHATTY = ("httpx", "httpcore", "urllib3", "requests", "hpack", "asyncio", "multipart", "alembic")


def brief(exc: BaseException) -> str:
    """An error in one line: its type and first line (a database error's driver-level cause)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}"


def bug_traceback(exc: BaseException) -> dict[str, BaseException]:
    """Log fields for a failure caught at a job or thread boundary: its traceback if it is a bug.

    `log.error("...", error=brief(exc), **bug_traceback(exc))` logs an expected failure in one
    line and anything else with its traceback.
    """
    # Imported here: every CLI command configures logging, and most never touch the database.
    from sqlalchemy.exc import SQLAlchemyError

    expected = (ConsentSyncError, SQLAlchemyError)  # explained in one line; anything else: a bug
    return {} if isinstance(exc, expected) else {"exc_info": exc}


def _scrub(key: str, value: Any) -> Any:
    if key.lower() in _SECRET_KEYS:
        return "***"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _scrub(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub("", item) for item in value]
    return value


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Hide secrets and turn email addresses into pseudonyms, at any depth (a structured
    traceback's messages and frames included)."""
    for key, value in list(event.items()):
        event[key] = _scrub(key, value)
    return event


class _StderrLogger:
    """Writes each rendered line to whatever `sys.stderr` is at that moment.

    structlog's PrintLogger keeps the stream it was created with; a stream swapped out since
    (a test runner's capture, a CLI runner) would be closed by the time a line arrives.
    """

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stderr_logger(*_: Any) -> _StderrLogger:
    return _StderrLogger()


class _StderrHandler(logging.Handler):
    """The standard library's records, rendered like ours, to whatever `sys.stderr` is now."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:
            self.handleError(record)


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    """Set up structlog for the CLI and the daemon (call once, early).

    The redaction's secrets and pseudonym key are read from the environment now.
    """
    refresh_redaction()
    numeric = logging.getLevelName(level.upper())
    numeric = numeric if isinstance(numeric, int) else logging.INFO
    debugging = numeric <= logging.DEBUG
    # APScheduler says at WARNING that a coalesced run was skipped: by design, not news.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if debugging else logging.ERROR)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if debugging else logging.WARNING)
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    # Tracebacks become data before redaction, so what they say is redacted too.
    tracebacks = _DICT_TRACEBACKS if as_json else structlog.processors.format_exc_info
    shared: list[Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        tracebacks,
        _redact,
    ]
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(shared, renderer, numeric)
    _log_uncaught_exceptions()


def _route_standard_logging(shared: list[Processor], renderer: Processor, level: int) -> None:
    """Send the standard library's records at `level` and above through `shared`: uvicorn's
    "Exception in ASGI application" and the like arrive as our lines, redacted, with their
    traceback as data (instead of `logging`'s last-resort plain text)."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    handler = _StderrHandler(level)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_logger_name,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *shared,
                renderer,
            ],
        )
    )
    root.addHandler(handler)


def _log_uncaught_exceptions() -> None:
    """An exception that ends a thread or the process becomes one line with its traceback."""
    log = structlog.get_logger("consent_sync.uncaught")

    def in_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "unknown"
        log.error(
            "thread failed",
            thread=name,
            error=brief(args.exc_value),
            **bug_traceback(args.exc_value),
        )

    def in_process(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("uncaught exception", error=brief(exc), exc_info=exc.with_traceback(tb))

    threading.excepthook = in_thread
    sys.excepthook = in_process
