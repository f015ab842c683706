"""`consent-sync sandbox` as a user runs it, and the in-process runner tests build on."""

from __future__ import annotations

import signal
import ssl
import subprocess
from pathlib import Path

import httpx
import requests
from simple_salesforce import Salesforce

from consent_sync_sandbox.runner import available_emulators, env_lines, start_sandbox
from support.paths import CONSENT_SYNC
from support.ports import free_port
from support.waiting import wait_for


def _read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value.strip("'")
    return env


def _token(env: dict[str, str]) -> str:
    response = httpx.post(
        f"{env['SALESFORCE_LOGIN_URL']}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": env["SALESFORCE_CLIENT_ID"],
            "client_secret": env["SALESFORCE_CLIENT_SECRET"],
            "username": env["SALESFORCE_USERNAME"],
            "password": env["SALESFORCE_PASSWORD"],
        },
        verify=ssl.create_default_context(cafile=env["SALESFORCE_CA_FILE"]),
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def test_command_serves_until_sigterm(tmp_path: Path) -> None:
    """The command writes ca.pem and env, serves HTTPS, and exits 0 on SIGTERM."""
    state = tmp_path / "state"
    command = [
        str(CONSENT_SYNC),
        "sandbox",
        "--contacts",
        "300",
        "--state-dir",
        str(state),
        "--salesforce-port",
        str(free_port()),
        "--hubspot-port",
        str(free_port()),
        "--mailchimp-port",
        str(free_port()),
        "--dynamics-port",
        str(free_port()),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def env_written() -> bool:
        """The env file exists; fails at once if the command has exited without writing it."""
        if (state / "env").exists():
            return True
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        return False

    try:
        wait_for(env_written, 30, "the sandbox to write its env file")
        env = _read_env(state / "env")
        assert (state / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
        assert env["SALESFORCE_CA_FILE"] == str(state / "ca.pem")
        session = requests.Session()
        session.verify, session.trust_env = env["SALESFORCE_CA_FILE"], False
        sf = Salesforce(
            instance_url=env["SALESFORCE_LOGIN_URL"], session_id=_token(env), session=session
        )
        assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 300
        session.close()
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "sandbox stopped" in output


def test_start_sandbox_serves_every_installed_emulator(tmp_path: Path) -> None:
    """start_sandbox serves each importable emulator and exports all their credentials."""
    running = start_sandbox(tmp_path, contacts=20)
    try:
        assert set(running.servers) == set(available_emulators())
        assert "salesforce" in running.servers
        assert running.env_file.read_text() == env_lines(running.env)
        assert running.env["SALESFORCE_LOGIN_URL"] == running.base_url("salesforce")
        assert _token(running.env)
    finally:
        running.stop()


def test_env_lines_quote_for_the_shell() -> None:
    """Values with shell metacharacters are quoted in the env file."""
    assert env_lines({"A": "x y", "B": "plain"}) == "export A='x y'\nexport B=plain\n"
