"""A seeded Salesforce emulator on a free port over local TLS, shared by the contract tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from simple_salesforce import Salesforce

from consent_sync_sandbox.salesforce import build_salesforce
from support.salesforce_emulator import SEEDED, Served, serve


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The shared emulator: 6,000 seeded contacts."""
    running = serve(build_salesforce(SEEDED, seed=7), tmp_path_factory.mktemp("sf-tls"))
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _clean_faults(served: Served) -> Iterator[None]:
    """Every test starts and ends without injected faults or quota changes."""
    served.emulator.faults.clear()
    yield
    served.emulator.faults.clear()
    with served.control() as control:
        control.put("/_sandbox/api-usage", json={"used": 0, "daily_limit": 5_000_000})


@pytest.fixture
def sf(served: Served) -> Salesforce:
    """simple-salesforce against the shared emulator."""
    return served.client()


@pytest.fixture
def control(served: Served) -> Iterator[httpx.Client]:
    """httpx for the shared emulator's `/_sandbox` endpoints."""
    with served.control() as client:
        yield client
