"""Start the CRM emulators over HTTPS: for `consent-sync sandbox`, tests, the demo and the bench.

Each emulator is imported lazily, so the sandbox serves whichever emulators are installed.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from consent_sync_sandbox.common import (
    Emulator,
    ServerThread,
    TLSFiles,
    make_tls,
    write_private,
)

EmulatorBuilder = Callable[[int, int, float], Emulator]

#: Emulator name -> (module, builder function), in start order.
EMULATORS: dict[str, tuple[str, str]] = {
    "salesforce": ("consent_sync_sandbox.salesforce", "build_salesforce"),
    "hubspot": ("consent_sync_sandbox.hubspot", "build_hubspot"),
    "mailchimp": ("consent_sync_sandbox.mailchimp", "build_mailchimp"),
    "dynamics": ("consent_sync_sandbox.dynamics", "build_dynamics"),
}
DEFAULT_PORTS = {"salesforce": 8701, "hubspot": 8702, "mailchimp": 8703, "dynamics": 8704}


class SandboxError(RuntimeError):
    """The sandbox could not start (no emulator available, a port taken, ...)."""


def available_emulators() -> dict[str, EmulatorBuilder]:
    """The emulators this installation can build, by name."""
    builders: dict[str, EmulatorBuilder] = {}
    for name, (module_name, function) in EMULATORS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        builder = getattr(module, function, None)
        if callable(builder):
            builders[name] = builder
    return builders


@dataclass
class RunningSandbox:
    """Emulators serving on loopback, with the CA and env file clients need."""

    tls: TLSFiles
    emulators: dict[str, Emulator]
    servers: dict[str, ServerThread]
    env: dict[str, str]
    env_file: Path

    def base_url(self, name: str) -> str:
        return self.servers[name].base_url

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def env_lines(env: Mapping[str, str]) -> str:
    """Shell `export` lines, values quoted for sh."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def start_sandbox(
    state_dir: Path,
    *,
    contacts: int = 0,
    seed: int = 0,
    overlap: float = 0.8,
    ports: Mapping[str, int] | None = None,
    only: tuple[str, ...] | None = None,
) -> RunningSandbox:
    """Seed and serve the emulators; writes `<state_dir>/ca.pem` and `<state_dir>/env` (0600).

    `ports` maps emulator name to port (0 = any free port, the default); `only` limits which
    emulators start.
    """
    builders = available_emulators()
    if only is not None:
        builders = {name: b for name, b in builders.items() if name in only}
    if not builders:
        raise SandboxError("no CRM emulator is available to start")
    tls = make_tls(state_dir)
    emulators: dict[str, Emulator] = {}
    servers: dict[str, ServerThread] = {}
    env: dict[str, str] = {}
    try:
        for name, build in builders.items():
            emulator = build(contacts, seed, overlap)
            port = (ports or {}).get(name, 0)
            try:
                server = ServerThread(emulator.app, tls, port=port).start()
            except (RuntimeError, OSError) as exc:
                raise SandboxError(f"{name} emulator could not listen on port {port}") from exc
            emulators[name], servers[name] = emulator, server
            env.update(emulator.client_env(server.base_url, tls.ca_pem))
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    env_file = state_dir / "env"
    write_private(env_file, env_lines(env).encode())  # it holds the sandbox's secrets
    return RunningSandbox(tls, emulators, servers, env, env_file)
