"""The stage the demo plays on: the chosen systems' sandboxes, the configuration's connectors for
them, a fresh SQLite store and a sync engine, with the sandbox controls that act as people do.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.protocol import Connector
from consent_sync.store import Store
from consent_sync.store.db import create_store_engine
from consent_sync.store.schema import upgrade
from consent_sync.sync.engine import SyncEngine
from consent_sync_sandbox.demo_people import PEOPLE, EmailView
from consent_sync_sandbox.runner import RunningSandbox, available_emulators, start_sandbox
from consent_sync_sandbox.seed import iter_people

SEED = 2026  # of the people every sandbox holds
OVERLAP = 0.8  # share of them held by every system


class SystemsError(ValueError):
    """`--systems` names a system the demo cannot play; the message says why."""


@dataclass(frozen=True)
class Cast:
    """The systems a demo plays, and the configured ones it leaves out (with why)."""

    systems: tuple[str, ...]
    left_out: dict[str, str]


def choose_systems(config_dir: Path, requested: Sequence[str] | None = None) -> Cast:
    """The systems to play: `requested`, or every system the configuration enables.

    A requested system must have an emulator and an enabled connector with its mapping in
    `config_dir`; without a request, an enabled system without an emulator is left out. Raises
    SystemsError, or ConfigError when the configuration itself is invalid.
    """
    config = load_config(config_dir, resolve_env=False)
    configured = {
        name for name, c in config.connectors.items() if c.enabled and name in config.mappings
    }
    emulated = set(available_emulators()) & set(PEOPLE)
    if requested is None:
        chosen = [name for name in PEOPLE if name in configured & emulated]
        left_out = dict.fromkeys(sorted(configured - emulated), "no sandbox emulator for it")
    else:
        chosen = list(dict.fromkeys(requested))
        for name in chosen:
            problem = _unplayable(name, config, configured, emulated)
            if problem:
                raise SystemsError(f"cannot play {name!r}: {problem}")
        left_out = dict.fromkeys(sorted(configured - set(chosen)), "not in --systems")
    if len(chosen) < 2:
        playable = ", ".join(n for n in PEOPLE if n in configured & emulated) or "none"
        raise SystemsError(f"a revocation needs two systems to cross; playable here: {playable}")
    return Cast(tuple(n for n in PEOPLE if n in chosen), left_out)


def _unplayable(
    name: str, config: DeploymentConfig, configured: set[str], emulated: set[str]
) -> str | None:
    """Why the demo cannot play `name` (None: it can)."""
    if name not in PEOPLE and name not in config.connectors:
        known = ", ".join(sorted(set(PEOPLE) | set(config.connectors)))
        return f"unknown system (known: {known})"
    if name not in emulated:
        return "the demo plays on sandboxes, and there is no sandbox emulator for it"
    connectors = config.config_dir / "connectors" / f"{name}.yaml"
    if name not in config.connectors:
        return f"no connector configured ({connectors} not found)"
    if not config.connectors[name].enabled:
        return f"its connector is disabled (enabled: false in {connectors})"
    if name not in configured:
        return f"no mapping ({config.config_dir / 'mappings' / f'{name}.yaml'} not found)"
    return None


@dataclass
class Stage:
    """Everything `staged` started, and the sandbox controls that act as a person would."""

    sandbox: RunningSandbox
    config: DeploymentConfig
    connectors: dict[str, Connector]
    store: Store
    engine: SyncEngine
    contacts: int
    systems: tuple[str, ...]

    def control(self, system: str, *, timeout: float = 30.0) -> httpx.Client:
        """A client for one sandbox's HTTPS API, trusting the sandbox CA."""
        trust = ssl.create_default_context(cafile=str(self.sandbox.tls.ca_pem))
        return httpx.Client(base_url=self.sandbox.base_url(system), verify=trust, timeout=timeout)

    def email(self, system: str, email: str) -> EmailView:
        """What `system`'s sandbox holds of `email`'s marketing email."""
        with self.control(system) as client:
            return PEOPLE[system].email(client, email)

    def unsubscribe(self, system: str, email: str) -> None:
        """`email` unsubscribes from marketing email in `system`, as a person does there."""
        with self.control(system) as client:
            PEOPLE[system].unsubscribe(client, email)

    def shared_agreeing_emails(self) -> Iterator[str]:
        """Emails of the people every system holds with a usable address and the same consent."""
        for person in iter_people("salesforce", self.contacts, SEED, OVERLAP):
            if person.shared and person.email_ok and not person.disagrees:
                yield person.email


@contextmanager
def staged(
    work_dir: Path,
    contacts: int,
    config_dir: Path,
    systems: Sequence[str],
) -> Iterator[Stage]:
    """Sandboxes of `systems`, their connectors, a fresh SQLite store and an engine; all torn
    down after. The configuration's other connectors are left out (loaded as disabled, so their
    secrets need not be set)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    db = work_dir / "consent-sync.db"
    for stale in work_dir.glob("consent-sync.db*"):
        stale.unlink()
    sandbox = start_sandbox(
        work_dir / "sandbox", contacts=contacts, seed=SEED, overlap=OVERLAP, only=tuple(systems)
    )
    connectors: dict[str, Connector] = {}
    try:
        database = create_store_engine(f"sqlite:///{db}")
        upgrade(database)
        database.dispose()
        loaded = load_config(config_dir, env=sandbox.env, systems=systems)
        config = replace(
            loaded,
            connectors={n: c for n, c in loaded.connectors.items() if n in systems},
            mappings={n: m for n, m in loaded.mappings.items() if n in systems},
        )
        for name in systems:
            connectors[name] = build_connector(config.connectors[name], config.mappings[name])
        with Store.open(f"sqlite:///{db}") as store:
            engine = SyncEngine(store, config, connectors)
            yield Stage(sandbox, config, connectors, store, engine, contacts, tuple(systems))
    finally:
        for connector in connectors.values():
            connector.close()
        sandbox.stop()
