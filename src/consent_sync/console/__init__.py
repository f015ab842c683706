"""The on-call console under /console (docs/console.md): server-rendered pages over the store,
signed in with an API token; the overview, the conflicts queue with resolution, subjects, runs,
dead letters with retry and the ledger.

`consent-sync run` mounts it in the daemon's HTTP app; it reads and writes through the store
(and the API's context), and never imports the CLI.
"""

from __future__ import annotations

from consent_sync.console.app import CONSOLE_PREFIX, create_console, mount_console
from consent_sync.console.context import ConsoleContext, LedgerResult

__all__ = ["CONSOLE_PREFIX", "ConsoleContext", "LedgerResult", "create_console", "mount_console"]
