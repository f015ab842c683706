"""The reconciliation rule (docs/design.md, "The reconciliation rule"), one clause per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent_sync.domain.model import (
    Canonical,
    ConflictKind,
    Evidence,
    LinkKey,
    Observation,
    Policy,
    Purpose,
    Severity,
    Shadow,
    Status,
    TimeKind,
)
from consent_sync.domain.reconcile import reconcile

G, D, U = Status.GRANTED, Status.DENIED, Status.UNKNOWN
T0 = datetime(2026, 1, 1, tzinfo=UTC)
EMAIL = Purpose("email_marketing")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def obs(
    source: str,
    status: Status,
    minutes: float,
    *,
    record: str = "r1",
    purpose: str = "email_marketing",
    evidence: Evidence | None = None,
) -> Observation:
    link = None if source.startswith("manual:") else LinkKey(source, "Contact", record)
    return Observation(
        source,
        link,
        purpose,
        status,
        at(minutes),
        TimeKind.RECORD_MODIFIED,
        evidence or Evidence(source),
    )


def state(status: Status, minutes: float, source: str = "hubspot", *, imported: bool = False):
    return Canonical(status, at(minutes), source, imported)


SEEN_G, SEEN_D = Shadow(last_seen=G), Shadow(last_seen=D)
FIRST = Shadow()


# --- clauses 1-4 ---------------------------------------------------------------------------


def test_no_change_when_value_equals_last_seen():
    """Clause 1: a value equal to the shadow's last-seen value decides nothing."""
    r = reconcile(EMAIL, state(D, 0), [(obs("sf", G, 5), SEEN_G)])
    assert r.decisions == () and r.conflicts == ()
    assert r.verdicts[0].outcome == "no_change"
    assert r.canonical.status is D


def test_echo_of_our_own_write_is_not_a_decision():
    """Clause 2: our own write coming back updates the shadow only, even if it differs from c."""
    r = reconcile(EMAIL, state(G, 10), [(obs("sf", D, 11), Shadow(last_seen=G, last_written=D))])
    assert r.verdicts[0].outcome == "echo"
    assert r.decisions == ()
    assert r.canonical.status is G


def test_agreement_with_canonical_is_not_a_decision():
    """Clause 3: a changed value that equals the canonical state decides nothing."""
    r = reconcile(EMAIL, state(D, 0), [(obs("sf", D, 5), SEEN_G)])
    assert r.verdicts[0].outcome == "agreement"
    assert r.decisions == ()


@pytest.mark.parametrize("policy", list(Policy))
def test_unknown_never_changes_a_known_state(policy):
    """Clause 4: `unknown` leaves a known canonical state alone under every policy."""
    purpose = Purpose("email_marketing", policy=policy, source_priority=("sf",))
    r = reconcile(purpose, state(D, 0), [(obs("sf", U, 50), SEEN_D)])
    assert r.canonical.status is D
    assert r.decisions == ()
    assert r.verdicts[0].outcome == "unknown_ignored"


# --- clause 5: first sight -----------------------------------------------------------------


@pytest.mark.parametrize("status", [G, D])
def test_first_observation_is_adopted_with_its_source(status):
    """Clause 5: with no canonical state, the first observation is adopted, grant or denial."""
    r = reconcile(EMAIL, Canonical(), [(obs("sf", status, 1), FIRST)])
    assert r.canonical.status is status and r.canonical.imported
    (decision,) = r.decisions
    assert decision.rule == "first_sight" and decision.source == "sf"
    assert decision.previous is U
    assert decision.evidence.source == "sf"


def test_first_sight_disagreement_adopts_denial_and_records_every_side():
    """Clause 5: systems disagreeing at first sight → denial wins, info conflict with all sides."""
    r = reconcile(
        EMAIL,
        Canonical(),
        [(obs("sf", G, 9), FIRST), (obs("hs", D, 1), FIRST), (obs("ms", G, 3), FIRST)],
    )
    assert r.canonical.status is D
    (decision,) = r.decisions
    assert decision.source == "hs" and decision.rule == "first_sight_denial_wins"
    (conflict,) = r.conflicts
    assert conflict.kind is ConflictKind.INITIAL_DISAGREEMENT
    assert conflict.severity is Severity.INFO
    assert {s.source for s in conflict.sides} == {"sf", "hs", "ms"}


def test_unknown_first_observations_leave_state_unknown():
    """Clause 5: only known values are adopted; `unknown` is never assumed to be a grant."""
    r = reconcile(EMAIL, Canonical(), [(obs("sf", U, 1), FIRST)])
    assert not r.canonical.known and r.decisions == ()


def test_first_sight_disagreement_across_cycles_is_informational():
    """Clause 5/6: a later first-sight grant against an imported denial is blocked, as info."""
    r = reconcile(EMAIL, state(D, 0, "hs", imported=True), [(obs("sf", G, 99), FIRST)])
    assert r.canonical.status is D
    (conflict,) = r.conflicts
    assert conflict.kind is ConflictKind.INITIAL_DISAGREEMENT


# --- clause 6: revocation_wins -------------------------------------------------------------


def test_denial_always_applies():
    """revocation_wins: a newer denial over a grant applies without conflict."""
    r = reconcile(EMAIL, state(G, 0), [(obs("sf", D, 5), SEEN_G)])
    assert r.canonical.status is D
    assert r.decisions[0].rule == "revocation_wins"
    assert r.conflicts == ()


def test_stale_denial_still_applies_and_is_recorded():
    """revocation_wins: a denial older than the grant applies anyway, with info stale_override."""
    r = reconcile(EMAIL, state(G, 10), [(obs("sf", D, 5), SEEN_G)])
    assert r.canonical.status is D
    (conflict,) = r.conflicts
    assert conflict.kind is ConflictKind.STALE_OVERRIDE and conflict.severity is Severity.INFO
    assert r.canonical.decided_at == at(10), "a stale denial keeps the newer time"


def test_first_sight_denial_applies_over_grant():
    """revocation_wins: a denial seen on a record's first sight (backfill) still applies."""
    r = reconcile(EMAIL, state(G, 0, imported=True), [(obs("sf", D, 5), FIRST)])
    assert r.canonical.status is D


def test_newer_changed_grant_lifts_denial():
    """revocation_wins: a changed, strictly newer grant from an allowed source applies."""
    r = reconcile(EMAIL, state(D, 0), [(obs("sf", G, 5), SEEN_D)])
    assert r.canonical.status is G
    assert r.decisions[0].previous is D


def test_grant_not_strictly_newer_is_blocked():
    """revocation_wins: a grant at the same time as the denial is blocked (needs review)."""
    r = reconcile(EMAIL, state(D, 5), [(obs("sf", G, 5), SEEN_D)])
    assert r.canonical.status is D
    (conflict,) = r.conflicts
    assert conflict.kind is ConflictKind.GRANT_BLOCKED
    assert conflict.severity is Severity.NEEDS_REVIEW
    assert conflict.rule == "revocation_wins:not_newer"


def test_older_grant_is_blocked():
    """revocation_wins: a grant older than the denial is blocked."""
    r = reconcile(EMAIL, state(D, 5), [(obs("sf", G, 1), SEEN_D)])
    assert r.canonical.status is D and r.conflicts[0].kind is ConflictKind.GRANT_BLOCKED


def test_first_sight_grant_never_regrants():
    """revocation_wins: a first sight of a record (backfill, relink) never lifts a denial."""
    r = reconcile(EMAIL, state(D, 0), [(obs("sf", G, 99), FIRST)])
    assert r.canonical.status is D
    assert r.conflicts[0].rule == "revocation_wins:first_sight"
    assert r.conflicts[0].kind is ConflictKind.GRANT_BLOCKED


def test_grant_from_system_outside_grant_sources_is_blocked():
    """revocation_wins: only systems in `grant_sources` may lift a denial."""
    purpose = Purpose("email_marketing", grant_sources=frozenset({"hs"}))
    r = reconcile(purpose, state(D, 0), [(obs("sf", G, 5), SEEN_D)])
    assert r.canonical.status is D
    assert r.conflicts[0].rule == "revocation_wins:source_not_allowed"
    allowed = reconcile(purpose, state(D, 0), [(obs("hs", G, 5), SEEN_D)])
    assert allowed.canonical.status is G


def test_grant_without_required_evidence_is_blocked():
    """revocation_wins: `require_evidence` blocks a grant that only says where it was read."""
    purpose = Purpose("sms_marketing", require_evidence=True)
    bare = obs("sf", G, 5, purpose="sms_marketing")
    r = reconcile(purpose, state(D, 0), [(bare, SEEN_D)])
    assert r.canonical.status is D
    assert r.conflicts[0].rule == "revocation_wins:evidence_missing"
    entered = obs(
        "sf", G, 5, purpose="sms_marketing", evidence=Evidence("sf", collection_method="web_form")
    )
    assert reconcile(purpose, state(D, 0), [(entered, SEEN_D)]).canonical.status is D
    proven = obs(
        "sf", G, 5, purpose="sms_marketing", evidence=Evidence("sf", legal_basis="consent")
    )
    assert reconcile(purpose, state(D, 0), [(proven, SEEN_D)]).canonical.status is G


def test_manual_grant_lifts_denial_without_a_record():
    """A manual decision is a change by definition and may grant from any source."""
    purpose = Purpose("email_marketing", grant_sources=frozenset({"hs"}))
    r = reconcile(purpose, state(D, 0), [(obs("manual:alice", G, 5), FIRST)])
    assert r.canonical.status is G
    assert r.decisions[0].rule == "manual"


# --- clause 6: last_writer_wins and source_priority -----------------------------------------

LWW = Purpose("email_marketing", policy=Policy.LAST_WRITER_WINS)


def test_lww_later_decision_wins_either_way():
    """last_writer_wins: the later decision time wins, grant or denial."""
    assert reconcile(LWW, state(D, 0), [(obs("sf", G, 5), SEEN_D)]).canonical.status is G
    assert reconcile(LWW, state(G, 0), [(obs("sf", D, 5), SEEN_G)]).canonical.status is D


def test_lww_older_decision_is_superseded():
    """last_writer_wins: an older value, grant or denial, does not change the state."""
    r = reconcile(LWW, state(G, 10), [(obs("sf", D, 5), SEEN_G)])
    assert r.canonical.status is G and r.verdicts[0].outcome == "superseded"


def test_lww_tie_goes_to_denial():
    """last_writer_wins: at equal decision times the denial wins."""
    assert reconcile(LWW, state(G, 5), [(obs("sf", D, 5), SEEN_G)]).canonical.status is D
    assert reconcile(LWW, state(D, 5), [(obs("sf", G, 5), SEEN_D)]).canonical.status is D


def test_lww_first_sight_grant_is_blocked():
    """last_writer_wins: the resubscribe guard holds — a first sight never re-grants."""
    r = reconcile(LWW, state(D, 0), [(obs("sf", G, 99), FIRST)])
    assert r.canonical.status is D and r.conflicts[0].kind is ConflictKind.GRANT_BLOCKED


PRIO = Purpose("email_marketing", policy=Policy.SOURCE_PRIORITY, source_priority=("hs", "sf"))


def test_source_priority_higher_system_wins():
    """source_priority: a higher-priority system's grant replaces a lower one's denial."""
    r = reconcile(PRIO, state(D, 50, "sf"), [(obs("hs", G, 5, record="h1"), SEEN_D)])
    assert r.canonical.status is G


def test_source_priority_lower_system_is_superseded():
    """source_priority: a lower-priority system cannot change a higher one's decision."""
    r = reconcile(PRIO, state(G, 0, "hs"), [(obs("sf", D, 5), SEEN_G)])
    assert r.canonical.status is G and r.verdicts[0].outcome == "superseded"


def test_source_priority_unlisted_falls_back_to_revocation_wins():
    """source_priority: an unlisted system falls back to revocation_wins (its denial applies)."""
    r = reconcile(PRIO, state(G, 0, "hs"), [(obs("ms", D, 5), SEEN_G)])
    assert r.canonical.status is D
    assert r.decisions[0].rule == "source_priority_fallback_revocation_wins"


def test_source_priority_first_sight_grant_is_blocked():
    """source_priority: even the top system's first sight never re-grants."""
    r = reconcile(PRIO, state(D, 0, "sf"), [(obs("hs", G, 5), FIRST)])
    assert r.canonical.status is D


# --- concurrent changes ---------------------------------------------------------------------


def test_concurrent_changes_are_ordered_by_time_and_recorded():
    """Two systems changing in different directions: taken in time order, conflict records both."""
    r = reconcile(EMAIL, state(G, 0), [(obs("sf", D, 5), SEEN_G), (obs("hs", G, 7), SEEN_D)])
    kinds = [c.kind for c in r.conflicts]
    assert ConflictKind.CONCURRENT_CHANGE in kinds
    concurrent = next(c for c in r.conflicts if c.kind is ConflictKind.CONCURRENT_CHANGE)
    assert {s.source for s in concurrent.sides} == {"sf", "hs"}
    # The denial (t=5) applies, then the grant (t=7) is newer and a change in hs: it lifts it.
    assert [d.status for d in r.decisions] == [D, G]
    assert r.canonical.status is G


def test_concurrent_changes_at_equal_time_end_denied():
    """At equal decision times the denial is evaluated last and stands."""
    r = reconcile(EMAIL, state(G, 0), [(obs("sf", D, 5), SEEN_G), (obs("hs", G, 5), SEEN_D)])
    assert r.canonical.status is D


def test_rejects_observation_of_another_purpose():
    """The caller must group by purpose; mixing purposes is a programming error."""
    with pytest.raises(ValueError, match="reconciled as"):
        reconcile(Purpose("sms_marketing"), Canonical(), [(obs("sf", G, 1), FIRST)])


# --- properties -----------------------------------------------------------------------------

statuses = st.sampled_from([G, D, U])
shadows = st.builds(Shadow, st.none() | statuses, st.none() | statuses)
policies = st.sampled_from(list(Policy))
sources = st.sampled_from(["sf", "hs", "ms", "manual:ops"])


@st.composite
def batches(draw):
    n = draw(st.integers(1, 5))
    items = []
    for i in range(n):
        src = draw(sources)
        o = obs(src, draw(statuses), draw(st.integers(0, 20)), record=f"r{i}")
        items.append((o, draw(shadows)))
    return items


@given(policies, statuses, st.integers(0, 20), batches())
def test_property_first_sights_never_regrant(policy, c_status, c_min, batch):
    """I6: under every policy, a batch of first sights never turns a denial into a grant."""
    purpose = Purpose("email_marketing", policy=policy, source_priority=("hs", "sf"))
    firsts = [(o, Shadow()) for o, _ in batch if o.link is not None]
    r = reconcile(purpose, state(c_status, c_min) if c_status is not U else Canonical(), firsts)
    if c_status is D:
        assert r.canonical.status is D


@given(statuses, st.integers(0, 20), batches())
def test_property_revocation_wins_keeps_any_denial(c_status, c_min, batch):
    """I1 core: under revocation_wins an applied denial stands unless a newer grant follows."""
    canonical = state(c_status, c_min) if c_status is not U else Canonical()
    r = reconcile(EMAIL, canonical, batch)
    denials = [v for v in r.verdicts if v.observation.status is D and v.outcome == "applied"]
    if denials and r.canonical.status is G:
        # Only a strictly newer grant, itself accepted, may follow a denial.
        last_denial = max(v.observation.decided_at for v in denials)
        assert any(d.status is G and d.decided_at > last_denial for d in r.decisions)


@given(policies, statuses, st.integers(0, 20), batches())
def test_property_every_change_of_state_is_a_decision(policy, c_status, c_min, batch):
    """I4 core: the canonical state changes only through decisions, which chain previous→status."""
    purpose = Purpose("email_marketing", policy=policy, source_priority=("hs",))
    canonical = state(c_status, c_min) if c_status is not U else Canonical()
    r = reconcile(purpose, canonical, batch)
    current = canonical.status
    for d in r.decisions:
        assert d.previous is current and d.status is not current
        current = d.status
    assert current is r.canonical.status


def test_a_later_agreeing_denial_moves_the_bar_for_grants():
    """A denial affirmed later (e.g. a first sight) makes older grants lose, even as changes."""
    r = reconcile(EMAIL, state(D, 7, "beta"), [(obs("alpha", D, 18), FIRST)])
    assert r.decisions == ()
    assert r.canonical.decided_at == at(18)
    blocked = reconcile(EMAIL, r.canonical, [(obs("beta", G, 16, record="b1"), SEEN_D)])
    assert blocked.canonical.status is D
    assert blocked.conflicts[0].rule == "revocation_wins:not_newer"


def test_an_earlier_agreement_keeps_the_state_time():
    """An agreeing observation older than the canonical decision leaves its time alone."""
    r = reconcile(EMAIL, state(D, 20), [(obs("alpha", D, 3), SEEN_G)])
    assert r.canonical.decided_at == at(20)


def test_a_later_agreeing_grant_does_not_move_the_state_time():
    """Showing a grant again never lets it outrun a revocation (last_writer_wins included)."""
    r = reconcile(LWW, state(G, 2), [(obs("alpha", G, 9), SEEN_D)])
    assert r.canonical.decided_at == at(2)
    later = reconcile(LWW, r.canonical, [(obs("beta", D, 5, record="b1"), SEEN_G)])
    assert later.canonical.status is D


# --- not opted out: the absence of an objection (docs/design.md, "What a grant is") ---------

N = Status.NOT_OPTED_OUT
SEEN_N = Shadow(last_seen=N)
POLICIES = [
    EMAIL,
    Purpose("email_marketing", policy=Policy.LAST_WRITER_WINS),
    Purpose("email_marketing", policy=Policy.SOURCE_PRIORITY, source_priority=("sf", "hubspot")),
]


def test_first_sight_of_unticked_boxes_is_adopted_as_not_opted_out_never_granted():
    """An unticked box first seen becomes `not_opted_out`: a decision, but no grant."""
    r = reconcile(EMAIL, Canonical(), [(obs("sf", N, 1), FIRST), (obs("hs", U, 1), FIRST)])
    assert r.canonical.status is N
    assert [d.status for d in r.decisions] == [N]
    assert r.conflicts == ()


def test_explicit_grant_is_adopted_over_records_showing_no_objection():
    """At first sight an explicit grant and an unticked box agree: the grant is adopted."""
    r = reconcile(EMAIL, Canonical(), [(obs("sf", N, 1), FIRST), (obs("hs", G, 2), FIRST)])
    assert r.canonical.status is G and r.canonical.source == "hs"
    assert r.conflicts == ()


def test_denial_and_no_objection_at_first_sight_adopt_the_denial():
    """A denial beside an unticked box wins at first sight, recorded as initial_disagreement."""
    r = reconcile(EMAIL, Canonical(), [(obs("sf", N, 5), FIRST), (obs("hs", D, 1), FIRST)])
    assert r.canonical.status is D
    assert [c.kind for c in r.conflicts] == [ConflictKind.INITIAL_DISAGREEMENT]


@pytest.mark.parametrize("purpose", POLICIES, ids=lambda p: p.policy.value)
def test_clearing_an_opt_out_never_lifts_a_denial_under_any_policy(purpose: Purpose):
    """A rep unticking the box, however late, leaves the denial standing, for review."""
    r = reconcile(purpose, state(D, 0, "hubspot"), [(obs("sf", N, 60), SEEN_D)])
    assert r.canonical.status is D and r.decisions == ()
    (conflict,) = r.conflicts
    assert conflict.kind is ConflictKind.GRANT_BLOCKED
    assert conflict.severity is Severity.NEEDS_REVIEW
    assert conflict.rule.endswith(":not_a_grant")


def test_a_new_record_without_objection_for_a_person_who_objected_is_routine():
    """A first sight of an unticked box against a decided denial is pushed back, no conflict."""
    r = reconcile(EMAIL, state(D, 0), [(obs("sf", N, 60, record="new"), FIRST)])
    assert r.canonical.status is D and r.decisions == () and r.conflicts == ()


@pytest.mark.parametrize("purpose", POLICIES, ids=lambda p: p.policy.value)
def test_no_objection_agrees_with_an_explicit_grant(purpose: Purpose):
    """An unticked box beside a grant says nothing new: no decision, the grant stands."""
    r = reconcile(purpose, state(G, 10), [(obs("sf", N, 60), SEEN_G)])
    assert r.canonical.status is G and r.decisions == () and r.conflicts == ()


@pytest.mark.parametrize("purpose", POLICIES, ids=lambda p: p.policy.value)
@pytest.mark.parametrize("status", [G, D])
def test_any_explicit_decision_replaces_not_opted_out_under_every_policy(
    purpose: Purpose, status: Status
):
    """Not opted out is not a decision: an older grant or denial still replaces it."""
    r = reconcile(purpose, state(N, 60, "sf"), [(obs("hubspot", status, 1), Shadow(last_seen=U))])
    assert r.canonical.status is status
    assert [d.status for d in r.decisions] == [status]


def test_grant_over_not_opted_out_at_first_sight_is_adopted():
    """The resubscribe guard is about denials: a first-seen grant lifts only an absence."""
    r = reconcile(EMAIL, state(N, 0, "sf", imported=True), [(obs("hubspot", G, 5), FIRST)])
    assert r.canonical.status is G


def test_a_grant_and_a_cleared_opt_out_are_not_concurrent_changes():
    """Concurrent changes are about direction: a grant and an untick point the same way."""
    r = reconcile(
        EMAIL,
        state(D, 0),
        [(obs("sf", N, 5), SEEN_D), (obs("hubspot", G, 6), SEEN_D)],
    )
    assert ConflictKind.CONCURRENT_CHANGE not in {c.kind for c in r.conflicts}


@given(
    st.lists(
        st.tuples(st.sampled_from(["sf", "hs", "ms"]), st.integers(0, 100), st.booleans()),
        min_size=1,
        max_size=6,
    )
)
def test_property_not_opted_out_never_turns_a_denial_into_anything(steps):
    """However many systems show no objection, in whatever order, a denial stays a denial."""
    for purpose in POLICIES:
        canonical = state(D, 50)
        inputs = [
            (obs(src, N, minute, record=f"r{i}"), SEEN_D if seen else FIRST)
            for i, (src, minute, seen) in enumerate(steps)
        ]
        assert reconcile(purpose, canonical, inputs).canonical.status is D
