"""Fixtures: the module's HubSpot emulator, the official client against it, a control client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.hubspot_emulator import SEEDED, Sandbox, start_emulator


@pytest.fixture(scope="module")
def sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    """A module's emulator with its `CONTACTS` (else SEEDED) contacts and limits out of the way."""
    contacts: int = getattr(request.module, "CONTACTS", SEEDED)
    running = start_emulator(
        tmp_path_factory.mktemp("hubspot"), contacts, rate_limit=100_000, search_rate=10_000
    )
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults and webhook targets never leak from one test into the next."""
    yield
    if "sandbox" in request.fixturenames:
        box: Sandbox = request.getfixturevalue("sandbox")
        box.emulator.faults.clear()
        with box.http() as http:
            http.delete("/_sandbox/webhooks")


@pytest.fixture
def api(sandbox: Sandbox) -> Any:
    """The official client against the module's sandbox."""
    return sandbox.client()


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """httpx against the module's sandbox, with its token."""
    with sandbox.http() as client:
        yield client
