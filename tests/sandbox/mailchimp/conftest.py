"""Fixtures: the module's Mailchimp emulator, the official client against it, an httpx client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.mailchimp_emulator import SEEDED, Sandbox, start_emulator


@pytest.fixture(scope="module")
def sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Sandbox]:
    """A module's emulator with its `CONTACTS` (else SEEDED) members."""
    contacts: int = getattr(request.module, "CONTACTS", SEEDED)
    running = start_emulator(tmp_path_factory.mktemp("mailchimp"), contacts)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults and garbles never leak from one test into the next."""
    yield
    if "sandbox" in request.fixturenames:
        box: Sandbox = request.getfixturevalue("sandbox")
        box.emulator.faults.clear()
        with box.http() as http:
            http.delete("/_sandbox/garble")


@pytest.fixture
def client(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The official client against the module's sandbox, trusting its CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sandbox.ca_file))
    return sandbox.client()


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """httpx against the module's sandbox, with its API key."""
    with sandbox.http() as client:
        yield client
