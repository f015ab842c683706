"""Fixtures for the console tests: a headless Chromium and a recording page (support.browser),
the module's sandbox, a fresh database per test and the harness that starts `consent-sync run`."""

from support.browser import browser, shots
from support.daemon import harness
from support.databases import pg_url, sqlite_url
from support.sandboxes import sandbox

__all__ = ["browser", "harness", "pg_url", "sandbox", "shots", "sqlite_url"]
