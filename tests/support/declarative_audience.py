"""The Mailchimp emulator over HTTPS per module, and declarative connectors against it
built from the Mailchimp-shaped example spec of docs/connectors.md (so the documented spec is
the one that is exercised), through the factory as the daemon builds them."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from consent_sync.config import DeploymentConfig, load_config
from consent_sync.connectors.declarative import DeclarativeConnector
from consent_sync.connectors.factory import build_connector
from consent_sync.connectors.retry import RetryPolicy
from consent_sync_sandbox.runner import RunningSandbox, start_sandbox
from support.config_files import ENV, write_config
from support.paths import REPO

MEMBERS = 240
#: Retries as in production, with waits short enough for tests.
FAST_RETRY = RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05, retry_after_ceiling=0.5)
MAPPING = """\
system: mailchimp
objects:
  members:
    match: {email: email_address}
    fields:
      status:
        purpose: email_marketing
        values:
          subscribed: granted
          unsubscribed: denied
          cleaned: unknown
          pending: unknown
          transactional: unknown
          archived: unknown
"""
LIST = "GET /3.0/lists/{list_id}/members"
MEMBER = "GET /3.0/lists/{list_id}/members/{subscriber_hash}"
BATCH = "POST /3.0/lists/{list_id}"


def documented_spec(name: str) -> str:
    """The example spec of docs/connectors.md whose environment variables start with `name`."""
    text = (REPO / "docs" / "connectors.md").read_text(encoding="utf-8")
    for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL):
        complete = "{...}" not in block  # the overview block elides its parts
        if block.startswith("type: declarative\n") and f"${{{name}_" in block and complete:
            return str(block)
    raise LookupError(name)


@dataclass
class Audience:
    """A running Mailchimp emulator, its control surface, and connectors built against it."""

    running: RunningSandbox
    control: httpx.Client
    root: Path
    built: list[DeclarativeConnector] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**ENV, **self.running.env}

    def config(
        self,
        *,
        page_size: int = 50,
        timeout: float = 5.0,
        edit: tuple[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> DeploymentConfig:
        """The documented spec with `page_size` members a page (and one textual `edit`), its
        variables from the sandbox (with `env` over them)."""
        spec = documented_spec("MAILCHIMP").replace("page_size: 1000", f"page_size: {page_size}")
        if edit is not None:
            assert edit[0] in spec, edit[0]
            spec = spec.replace(*edit)
        spec += f"limits: {{requests_per_second: 10000, timeout_seconds: {timeout}}}\n"
        root = write_config(
            self.root / f"cfg{len(self.built)}",
            {"connectors/mailchimp.yaml": spec, "mappings/mailchimp.yaml": MAPPING},
        )
        return load_config(root, env={**self.env, **(env or {})})

    def connector(self, **options: Any) -> DeclarativeConnector:
        """A connector as the factory builds it, with fast retries."""
        config = self.config(**options)
        made = build_connector(
            config.connectors["mailchimp"], config.mappings["mailchimp"], retry=FAST_RETRY
        )
        assert isinstance(made, DeclarativeConnector)
        self.built.append(made)
        return made

    def faults(self, *rules: dict[str, Any], **settings: Any) -> None:
        response = self.control.put("/_sandbox/faults", json={"rules": list(rules), **settings})
        response.raise_for_status()

    def requests(self, endpoint: str, status: int | None = None) -> int:
        """Requests the emulator counted for `endpoint` (with `status`, if given)."""
        counts = self.control.get("/_sandbox/stats").json()["endpoints"].get(endpoint, {})
        return sum(n for s, n in counts.items() if status is None or int(s) == status)

    def reset_stats(self) -> None:
        self.control.delete("/_sandbox/stats").raise_for_status()

    def act(self, action: str, email: str, **body: Any) -> dict[str, Any]:
        """What a person does in Mailchimp (unsubscribe, signup, bounce, archive, ...)."""
        response = self.control.post(
            "/_sandbox/act", json={"action": action, "email": email, **body}
        )
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def member(self, email: str) -> dict[str, Any]:
        """A member as the emulator holds it (not counted as an API call)."""
        response = self.control.get("/_sandbox/members", params={"email": email})
        response.raise_for_status()
        found: dict[str, Any] = response.json()["member"]
        return found


@pytest.fixture(scope="module")
def audience(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audience]:
    """The module's Mailchimp emulator, seeded with `MEMBERS` members."""
    state = tmp_path_factory.mktemp("mailchimp")
    running = start_sandbox(state, contacts=MEMBERS, seed=3, only=("mailchimp",))
    trust = ssl.create_default_context(cafile=str(running.tls.ca_pem))
    control = httpx.Client(base_url=running.base_url("mailchimp"), verify=trust, timeout=30)
    box = Audience(running, control, tmp_path_factory.mktemp("configs"))
    yield box
    for connector in box.built:
        connector.close()
    control.close()
    running.stop()


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults never leak from one test into the next."""
    yield
    if "audience" in request.fixturenames:
        box: Audience = request.getfixturevalue("audience")
        box.control.delete("/_sandbox/faults").raise_for_status()
