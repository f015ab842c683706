"""The console in a real headless Chromium against a real `consent-sync run` on both sandboxes.

The demo's blocked re-grant is produced as the demo does: a person unsubscribes in a HubSpot
email footer, the denial reaches Salesforce, then a sales rep unticks "Email Opt Out" there: not
a grant, so a `grant_blocked` conflict waits for review and the box is ticked again. On-call signs
in with a token from `consent-sync token create`, finds it in the queue, resolves it as granted
with a note, and the decision reaches the Salesforce sandbox. Every page is screenshotted (under
the test's tmp_path), has no console error and no critical axe-core violation.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page

from consent_sync.store import Store
from support.browser import Shots
from support.convergence import quiescent, shared_granted_people
from support.daemon import Harness
from support.paths import CONSENT_SYNC
from support.sandboxes import MARKETING
from support.waiting import wait_for

CONTACTS = 80
SANDBOX_SEED = 14
pytestmark = pytest.mark.slow


def new_token(harness: Harness, name: str, scope: str) -> str:
    """A token made by `consent-sync token create`: the last line of its output."""
    done = subprocess.run(
        [CONSENT_SYNC, "token", "create", "--name", name, "--scope", scope],
        env=harness.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def opted_out_in_salesforce(harness: Harness, person: str) -> bool | None:
    """Whether every live Salesforce record of `person` has Email Opt Out ticked (None: mixed)."""
    values = {r["HasOptedOutOfEmail"] for r in harness.salesforce_records(person)}
    return values.pop() if len(values) == 1 else None


def blocked_regrant(harness: Harness, store: Store) -> tuple[str, int]:
    """The demo's scenario: HubSpot unsubscribe, then a rep unticks the box in Salesforce."""
    person = shared_granted_people(store, 1)[0]
    harness.act("hubspot", {"action": "unsubscribe", "email": person, "subscription_id": MARKETING})
    wait_for(lambda: opted_out_in_salesforce(harness, person) is True, 60, "the unsubscribe")
    harness.act(
        "salesforce",
        {"action": "update", "email": person, "fields": {"HasOptedOutOfEmail": False}},
    )
    subject_id = store.views.subject(person).subject.id

    def conflict() -> int | None:
        for row in store.views.conflicts(open_only=True):
            if row.kind == "grant_blocked" and row.subject_id == subject_id:
                return row.id
        return None

    wait_for(lambda: conflict() is not None, 60, "the rep's untick to be blocked")
    # The denial is pushed back first, so an unticked box later can only be the resolution.
    wait_for(lambda: opted_out_in_salesforce(harness, person) is True, 60, "the push-back")
    found = conflict()
    assert found is not None
    return person, found


def go(page: Page, url: str) -> None:
    answer = page.goto(url)
    assert answer is not None and answer.ok, f"{url}: {answer and answer.status}"


def test_on_call_resolves_the_blocked_regrant_in_the_browser(
    harness: Harness, shots: Shots
) -> None:
    """Sign in, find the blocked re-grant, resolve it, see it reach Salesforce, look at every
    page at desktop and phone width, refuse a post without its CSRF token, sign out."""
    token = new_token(harness, "oncall", "write")
    daemon = harness.daemon()
    daemon.wait_ready()
    store = Store.open(harness.database_url)
    wait_for(lambda: quiescent(store, datetime.min.replace(tzinfo=UTC)), 180, "the backfill")
    person, conflict_id = blocked_regrant(harness, store)
    base = daemon.url("/console")
    page = shots.page

    # No session: the browser is sent to sign in.
    go(page, f"{base}/conflicts")
    assert page.url == f"{base}/login"
    shots.check("01-login")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    assert page.get_by_role("heading", name="Overview").is_visible()
    assert page.get_by_text("oncall (write)").is_visible()
    shots.check("02-overview")

    # The queue, filtered to what a person did that the rule refused.
    page.get_by_role("link", name="Conflicts", exact=True).click()
    page.get_by_label("Kind").select_option("grant_blocked")
    page.get_by_label("Severity").select_option("needs_review")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/conflicts?**")
    row = page.get_by_role("link", name=f"Conflict {conflict_id}: grant_blocked")
    assert row.is_visible()
    shots.check("03-conflicts")
    row.click()
    page.wait_for_url(f"{base}/conflicts/{conflict_id}")
    assert page.get_by_text("revocation_wins").first.is_visible()
    assert page.get_by_role("heading", name="Both sides").is_visible()
    shots.check("04-conflict")

    # A form post without the CSRF token is refused, and changes nothing.
    forged = page.request.post(
        f"{base}/conflicts/{conflict_id}/resolve",
        form={"decision": "granted", "note": "no token"},
        max_redirects=0,
    )
    assert forged.status == 403
    assert store.views.conflict(conflict_id).status == "open"

    # Resolve: the customer confirmed by phone that they want the emails after all.
    page.get_by_label("granted").check()
    page.get_by_label("Note").fill("customer confirmed by phone")
    page.get_by_role("button", name="Resolve as manual:oncall").click()
    page.wait_for_url(f"{base}/conflicts/{conflict_id}")
    assert page.get_by_text("resolved by manual:oncall").is_visible()
    shots.check("05-conflict-resolved")
    wait_for(
        lambda: opted_out_in_salesforce(harness, person) is False,
        60,
        "the resolution in the Salesforce sandbox",
    )

    # The person's page: found by email (a POST: the email stays out of URLs).
    page.get_by_role("link", name="Subject", exact=True).click()
    page.get_by_label("Email address").fill(person)
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(f"{base}/subjects/*")
    assert person not in page.url
    assert page.get_by_role("heading", name=person).is_visible()
    assert page.get_by_text("manual:oncall").first.is_visible()
    shots.check("06-subject")

    page.get_by_role("link", name="Runs", exact=True).click()
    page.wait_for_url(f"{base}/runs")
    shots.check("07-runs")
    page.locator("tbody a").first.click()
    page.wait_for_url(f"{base}/runs/*")
    assert page.get_by_role("heading", name="Records rejected").is_visible()
    shots.check("08-run")

    page.get_by_role("link", name="Dead letters", exact=True).click()
    page.wait_for_url(f"{base}/dead")
    shots.check("09-dead-letters")

    page.get_by_role("link", name="Ledger", exact=True).click()
    page.get_by_role("button", name="Verify now").click()
    page.wait_for_url(f"{base}/ledger")
    assert page.get_by_text("verified", exact=True).is_visible()
    assert page.get_by_text("(by oncall)").is_visible()
    shots.check("10-ledger")

    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    go(page, f"{base}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # A phone-width screen: nothing wider than the viewport.
    page.set_viewport_size({"width": 390, "height": 844})
    for name, path in (("overview", "/"), ("conflict", f"/conflicts/{conflict_id}")):
        go(page, f"{base}{path}")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
        shots.check(f"11-phone-{name}")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base}/login")
    go(page, f"{base}/")
    assert page.url == f"{base}/login"

    timeline = store.views.subject(person).timeline
    assert timeline[-1].source == "manual:oncall"
    assert timeline[-1].evidence["note"] == "customer confirmed by phone"
    store.close()
    assert daemon.terminate() == 0
    logged = daemon.log_path.read_text(encoding="utf-8", errors="replace")
    assert token not in logged and person not in logged
    print("screenshots:", ", ".join(path.name for path in shots.taken))
