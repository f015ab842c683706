"""The SQLite store holds emails and consent history: created readable by its owner only."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from sqlalchemy import text

from consent_sync.store.db import create_store_engine
from support.paths import CONSENT_SYNC


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_db_upgrade_creates_the_store_0600(tmp_path: Path) -> None:
    """`consent-sync db upgrade` on a new SQLite path creates it 0600, whatever the umask."""
    database = tmp_path / "consent-sync.db"
    env = {**os.environ, "CONSENT_SYNC_DATABASE_URL": f"sqlite:///{database}"}
    subprocess.run([CONSENT_SYNC, "db", "upgrade"], env=env, check=True, capture_output=True)
    assert mode(database) == 0o600


def test_the_write_ahead_log_is_private_too(tmp_path: Path) -> None:
    """While a connection is open the -wal and -shm files exist, with the database's mode."""
    database = tmp_path / "store.db"
    engine = create_store_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            connection.commit()
            wal = database.with_name("store.db-wal")
            assert wal.exists()
            assert {mode(p) for p in (database, wal)} == {0o600}
    finally:
        engine.dispose()


def test_an_existing_file_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    """A store an operator created (say 0640 for a backup group) is not chmod-ed."""
    database = tmp_path / "store.db"
    database.touch()
    database.chmod(0o640)
    engine = create_store_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    assert mode(database) == 0o640
