"""A HubSpot emulator over HTTPS for the HubSpot connector tests, and connectors pointed at it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from consent_sync.connectors.hubspot.connector import HubSpotConnector, HubSpotSettings
from consent_sync.connectors.protocol import Page, Record
from consent_sync.connectors.retry import RetryPolicy
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox

CONTACTS = 3000
#: Retries as in production but with waits short enough for tests.
FAST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05, retry_after_ceiling=0.5)
UNLIMITED = {"max_per_interval": 1_000_000, "search_per_second": 1_000_000, "daily": 10_000_000}


@dataclass
class Portal:
    """A running HubSpot emulator, its client environment and its `/_sandbox` control surface."""

    running: RunningSandbox
    control: httpx.Client
    connectors: list[HubSpotConnector] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """The client environment the sandbox exports (URL, token, CA file)."""
        return self.running.env

    def connector(self, **overrides: Any) -> HubSpotConnector:
        """A connector with fast retries and no client-side rate limiting unless overridden."""
        settings: dict[str, Any] = {
            "access_token": self.env["HUBSPOT_ACCESS_TOKEN"],
            "properties": ["email", "sms_consent", "phone_consent"],
            "subscriptions": {"marketing_email": "Marketing Information"},
            "base_url": self.env["HUBSPOT_BASE_URL"],
            "ca_file": self.env["HUBSPOT_CA_FILE"],
            "timeout": 5.0,
            "requests_per_second": 100_000.0,
            "searches_per_second": 100_000.0,
            "retry": FAST_RETRY,
        }
        made = HubSpotConnector(HubSpotSettings(**{**settings, **overrides}))
        self.connectors.append(made)
        return made

    def act(self, action: str, **body: Any) -> dict[str, Any]:
        """What a person does in HubSpot (unsubscribe, edit, create, delete)."""
        response = self.control.post("/_sandbox/act", json={"action": action, **body})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def contact(self, record_id: str) -> dict[str, Any]:
        """Everything the emulator holds about one contact."""
        response = self.control.get("/_sandbox/contacts", params={"id": record_id})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def faults(self, *rules: dict[str, Any], **config: Any) -> None:
        """Inject fault `rules` (and other fault settings) until cleared."""
        self.control.put("/_sandbox/faults", json={"rules": list(rules), **config})

    def limits(self, **limits: int) -> None:
        """Set rate limits: `limits` over limits too high to matter."""
        self.control.put("/_sandbox/limits", json={**UNLIMITED, **limits})

    def reset_stats(self) -> None:
        """Start counting requests from zero."""
        self.control.delete("/_sandbox/stats")

    def requests(self, endpoint: str, status: int | None = None) -> int:
        """Requests to `endpoint` (e.g. "GET /crm/v3/objects/contacts") since the last reset."""
        counts = self.control.get("/_sandbox/stats").json()["endpoints"].get(endpoint, {})
        return sum(n for s, n in counts.items() if status is None or s == str(status))


def start_portal(state_dir: Path, contacts: int) -> Portal:
    """Seed and serve the HubSpot emulator with limits out of the way."""
    running = start_sandbox(state_dir, contacts=contacts, seed=11, only=("hubspot",))
    control = httpx.Client(
        base_url=running.env["HUBSPOT_BASE_URL"],
        verify=ssl.create_default_context(cafile=running.env["HUBSPOT_CA_FILE"]),
    )
    portal = Portal(running, control)
    portal.limits()
    return portal


def stop_portal(portal: Portal) -> None:
    """Close every connector made against the portal, then stop serving."""
    for made in portal.connectors:
        made.close()
    portal.control.close()
    portal.running.stop()


def records(pages: list[Page]) -> list[Record]:
    """The records of `pages`, in order."""
    return [r for page in pages for r in page.records]


def pulled_since(connector: HubSpotConnector, since: datetime | None) -> list[Record]:
    """Every record one pull returns."""
    return records(list(connector.pull("contacts", since)))
