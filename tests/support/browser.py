"""A real browser for the console tests: Debian's chromium driven by Playwright for Python (never
a browser Playwright downloads: `make browser` installs the `chromium` package), and a page that
records console errors, takes screenshots and runs axe-core (bundled by axe-playwright-python)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `make browser` installs it


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """A headless Chromium for the whole run."""
    assert CHROMIUM.exists(), "Debian's chromium is missing: `make browser` installs it"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@dataclass
class Shots:
    """What a page logged as errors, its screenshots, and axe-core's verdicts."""

    page: Page
    directory: Path
    errors: list[str] = field(default_factory=list)
    taken: list[Path] = field(default_factory=list)
    violations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def check(self, name: str) -> Path:
        """Screenshot the page as `name`.png, run axe-core on it, and fail on any console error
        logged since the last check or any critical accessibility violation."""
        path = self.directory / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        print(f"screenshot: {path}")
        result = Axe().run(self.page).response
        assert result["testEngine"]["name"] == "axe-core", result.get("testEngine")
        assert result["passes"] or result["violations"], "axe-core checked nothing"
        found = result["violations"]
        self.violations[name] = found
        for violation in found:
            print(f"  axe {violation['impact']}: {violation['id']} ({len(violation['nodes'])})")
        errors, self.errors[:] = list(self.errors), []
        assert errors == [], f"{name}: console errors {errors}"
        critical = [v["id"] for v in found if v["impact"] == "critical"]
        assert critical == [], f"{name}: critical accessibility violations {critical}"
        return path


@pytest.fixture
def shots(browser: Browser, tmp_path: Path) -> Iterator[Shots]:
    """A fresh browser context (no cookies) at 1,280 px, its console errors recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    recorded = Shots(page, tmp_path)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            recorded.errors.append(message.text)

    def on_error(error: Error) -> None:
        recorded.errors.append(str(error))

    page.on("console", on_console)
    page.on("pageerror", on_error)
    yield recorded
    context.close()
