"""Suite-wide fixtures: a fresh, empty database per test on SQLite and on PostgreSQL, and a store.

They live in support.databases, which says how the PostgreSQL half is laid out.
"""

from support.databases import db_url, migrated_db_url, pg_database, store

__all__ = ["db_url", "migrated_db_url", "pg_database", "store"]
