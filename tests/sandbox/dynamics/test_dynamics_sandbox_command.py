"""The runner serves the Dataverse emulator beside the others and exports its variables."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from consent_sync_sandbox.runner import DEFAULT_PORTS, start_sandbox


def test_start_sandbox_serves_dynamics_and_writes_its_variables(tmp_path: Path) -> None:
    """`start_sandbox` serves the emulator (default port 8704) and its env file exports the
    DYNAMICS_* variables the shipped connector reads; they reach a token and the Web API."""
    assert DEFAULT_PORTS["dynamics"] == 8704
    running = start_sandbox(tmp_path, contacts=5, only=("dynamics",))
    try:
        exported = running.env_file.read_text()
        env = running.env
        for name in (
            "DYNAMICS_BASE_URL",
            "DYNAMICS_TOKEN_URL",
            "DYNAMICS_CLIENT_ID",
            "DYNAMICS_CLIENT_SECRET",
            "DYNAMICS_CA_FILE",
        ):
            assert f"export {name}=" in exported
        assert env["DYNAMICS_CA_FILE"] == str(tmp_path / "ca.pem")
        trust = ssl.create_default_context(cafile=env["DYNAMICS_CA_FILE"])
        token = httpx.post(
            env["DYNAMICS_TOKEN_URL"],
            data={
                "grant_type": "client_credentials",
                "client_id": env["DYNAMICS_CLIENT_ID"],
                "client_secret": env["DYNAMICS_CLIENT_SECRET"],
                "scope": f"{env['DYNAMICS_BASE_URL']}/.default",
            },
            verify=trust,
        ).json()["access_token"]
        contacts = httpx.get(
            f"{env['DYNAMICS_BASE_URL']}/api/data/v9.2/contacts",
            headers={"Authorization": f"Bearer {token}"},
            verify=trust,
        )
        assert len(contacts.json()["value"]) == 5
        assert (tmp_path / "env").stat().st_mode & 0o777 == 0o600
    finally:
        running.stop()
