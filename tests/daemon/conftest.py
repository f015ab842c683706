"""Fixtures for the daemon tests: the module's sandbox, a fresh database per test (PostgreSQL or a
SQLite file) and the harness that starts `consent-sync run` processes against them."""

from support.daemon import harness
from support.databases import pg_url, sqlite_url
from support.sandboxes import sandbox

__all__ = ["harness", "pg_url", "sandbox", "sqlite_url"]
