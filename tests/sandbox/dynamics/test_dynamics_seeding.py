"""Seeded contacts look like a real Dynamics org: opt-out boxes mostly unticked, shared people
agreeing with the other systems, a little mess in how emails were typed."""

from __future__ import annotations

from consent_sync_sandbox.dynamics.seeding import seeded_rows
from consent_sync_sandbox.dynamics.store import COLUMNS
from consent_sync_sandbox.seed import iter_people

N = 4000
SEED = 7


def _rows(seed: int = SEED) -> list[dict[str, object]]:
    people = iter_people("dynamics", N, seed, 0.8)
    return [dict(zip((*COLUMNS, "email_key"), row, strict=True)) for row in seeded_rows(people, N)]


def _share(rows: list[dict[str, object]], column: str) -> float:
    return sum(bool(r[column]) for r in rows) / len(rows)


def test_opt_out_boxes_are_mostly_unticked() -> None:
    """donotbulkemail ~13%, donotemail ~3%, donotphone ~10%, donotfax ~8%; the rest false."""
    rows = _rows()
    assert 0.09 <= _share(rows, "donotbulkemail") <= 0.17
    assert 0.015 <= _share(rows, "donotemail") <= 0.05
    assert 0.07 <= _share(rows, "donotphone") <= 0.13
    assert 0.05 <= _share(rows, "donotfax") <= 0.11
    assert _share(rows, "donotsendmm") <= 0.07
    everyone_who_objected_to_all_email = [r for r in rows if r["donotemail"]]
    assert all(r["donotbulkemail"] for r in everyone_who_objected_to_all_email)


def test_shared_people_match_salesforce_by_email_and_agree_on_email_opt_out() -> None:
    """People Salesforce also holds carry its email (up to case and spaces) and its opt-out."""
    rows = _rows()
    salesforce = list(iter_people("salesforce", N, SEED, 0.8))
    shared = [(r, p) for r, p in zip(rows, salesforce, strict=True) if p.shared]
    assert len(shared) == round(0.8 * N)
    for row, person in shared:
        assert str(row["emailaddress1"]).strip().casefold() == person.email.casefold()
        assert bool(row["donotbulkemail"]) == (not person.email_ok)
    messy = [r for r, p in shared if r["emailaddress1"] != p.email]
    assert 0.05 * len(shared) <= len(messy) <= 0.3 * len(shared)


def test_people_only_dynamics_holds_are_its_own_some_without_a_primary_email() -> None:
    """Dynamics-only people have emails of their own; a few keep one in emailaddress2 only."""
    rows = _rows()[round(0.8 * N) :]
    with_primary = [r for r in rows if r["emailaddress1"]]
    assert all(".dyn@" in str(r["emailaddress1"]) for r in with_primary)
    secondary_only = [r for r in rows if not r["emailaddress1"]]
    assert secondary_only and all(r["emailaddress2"] for r in secondary_only)


def test_ids_and_versions_are_unique_and_seeding_is_deterministic() -> None:
    """Contact GUIDs and row versions are unique; the same seed gives the same org."""
    rows = _rows()
    assert len({r["contactid"] for r in rows}) == N
    versions = [r["versionnumber"] for r in rows]
    assert versions == sorted(versions) and len(set(versions)) == N
    stamps = [r["modifiedon"] for r in rows]
    assert stamps == sorted(stamps)
    again = _rows()
    assert [r["contactid"] for r in again] == [r["contactid"] for r in rows]
    assert [r["contactid"] for r in _rows(seed=8)][:5] != [r["contactid"] for r in rows][:5]
