"""Both CRM emulators served by `consent_sync_sandbox.runner`, as a module-scoped fixture.

A test module sizes its sandbox with module constants: `CONTACTS` seeded contacts (required) and
`SANDBOX_SEED` (0 unless set), so modules that need different worlds share one fixture.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from consent_sync_sandbox.runner import RunningSandbox, start_sandbox

MARKETING = 1001  # the sandbox portal's "Marketing Information" subscription


def sandbox_control(sandbox: RunningSandbox, system: str, timeout: float = 30) -> httpx.Client:
    """An HTTP client for one emulator of `sandbox` (its API and its `/_sandbox` endpoints)."""
    trust = ssl.create_default_context(cafile=str(sandbox.tls.ca_pem))
    return httpx.Client(base_url=sandbox.base_url(system), verify=trust, timeout=timeout)


@pytest.fixture(scope="module")
def sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """The module's sandbox: `CONTACTS` contacts seeded with `SANDBOX_SEED`, stopped at the end."""
    contacts: int = request.module.CONTACTS
    seed: int = getattr(request.module, "SANDBOX_SEED", 0)
    running = start_sandbox(tmp_path_factory.mktemp("sandbox"), contacts=contacts, seed=seed)
    yield running
    running.stop()
