"""Fixtures: the module's Dataverse emulator, httpx against its Web API, a control client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from support.dynamics_emulator import SEEDED, Sandbox, start_emulator


@pytest.fixture(scope="module")
def sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    """A module's emulator with its `CONTACTS` (else SEEDED) contacts."""
    contacts: int = getattr(request.module, "CONTACTS", SEEDED)
    running = start_emulator(tmp_path_factory.mktemp("dynamics"), contacts)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _clean_sandbox(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults, limits, garbles and org settings never leak from one test into the next."""
    yield
    if "sandbox" in request.fixturenames:
        box: Sandbox = request.getfixturevalue("sandbox")
        box.emulator.faults.clear()
        with box.control() as control:
            control.delete("/_sandbox/garble").raise_for_status()
            control.put("/_sandbox/limits", json={}).raise_for_status()
            control.put("/_sandbox/org", json={}).raise_for_status()


@pytest.fixture(scope="module")
def token(sandbox: Sandbox) -> str:
    """One access token for the module (as a client keeps one until it expires)."""
    return sandbox.token()


@pytest.fixture
def api(sandbox: Sandbox, token: str) -> Iterator[httpx.Client]:
    """httpx against `/api/data/v9.2` with a live token."""
    with sandbox.api(token) as client:
        yield client


@pytest.fixture
def control(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """httpx against `/_sandbox/*`."""
    with sandbox.control() as client:
        yield client
