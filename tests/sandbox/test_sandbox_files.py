"""The sandbox's credentials (`env`) and its server key are written readable by their owner only."""

from __future__ import annotations

import stat
from pathlib import Path

from consent_sync_sandbox.runner import start_sandbox


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_env_and_server_key_are_0600_even_over_older_copies(tmp_path: Path) -> None:
    """`env` and `server.key` are 0600 (older 0644 copies included); the CA stays readable."""
    (tmp_path / "env").write_text("old\n")
    (tmp_path / "env").chmod(0o644)
    sandbox = start_sandbox(tmp_path, contacts=0)
    try:
        assert mode(sandbox.env_file) == 0o600
        assert mode(sandbox.tls.key_pem) == 0o600
        assert mode(sandbox.tls.ca_pem) & 0o044  # clients and other users may trust the CA
        assert "HUBSPOT_CLIENT_SECRET" in sandbox.env_file.read_text()
    finally:
        sandbox.stop()
