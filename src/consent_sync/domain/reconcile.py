"""The reconciliation rule (docs/design.md, "The reconciliation rule"): what the store accepts,
and why.

`reconcile` is pure. Given a purpose's policy, the canonical state and every observation of one
(subject, purpose) in a batch — each with its link's shadow — it returns the decisions to record,
the conflicts to log and the new canonical state. The caller does all I/O: it writes the ledger,
updates shadows, and pushes the canonical value to every link whose shadow differs from it.

The clauses, in the order they are tried for each observation `v` against canonical `c`:

1. no change — `v` equals the shadow's last-seen value;
2. echo — `v` equals the value we last wrote to that link;
3. agreement — `v == c`;
4. `unknown` never changes a known state (the canonical value is pushed back);
5. while `c` is unknown the first observations are adopted; if they disagree the denial wins
   and an `initial_disagreement` conflict records every side;
6. otherwise the purpose's policy settles it; under every policy a first sight of a record
   never turns a denial into a grant (the resubscribe guard, I6).

Least permissive within a system: a system answers "no" for a person while any of its records
holds a denial of its own, so a grant from another of its records lifts no denial and is not
adopted at first sight (docs/design.md, "Least permissive within a system").

`not_opted_out` (an unticked opt-out box, an empty field) is the absence of an objection, not a
decision (docs/design.md, "What a grant is"): it agrees with a grant, it never lifts a denial
under any policy, and any explicit grant or denial replaces it under every policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from consent_sync.domain import holdings
from consent_sync.domain.model import (
    MANUAL_PREFIX,
    Canonical,
    Conflict,
    ConflictKind,
    Decision,
    Observation,
    Policy,
    Purpose,
    Resolution,
    Shadow,
    Side,
    Status,
    Verdict,
)

__all__ = ["reconcile"]


@dataclass(frozen=True, slots=True)
class _Candidate:
    observation: Observation
    shadow: Shadow

    @property
    def is_change(self) -> bool:
        """Whether `v` is a change seen in its system, rather than a first sight of a record.

        Decisions with no CRM record behind them (manual, preference centre) are always changes.
        """
        return self.observation.link is None or self.shadow.last_seen is not None

    @property
    def side(self) -> Side:
        o = self.observation
        return Side(o.source, o.status, o.decided_at, o.link)


def _canonical_side(c: Canonical) -> Side:
    return Side(c.source or "store", c.status, c.decided_at)


def reconcile(
    purpose: Purpose,
    canonical: Canonical,
    inputs: Sequence[tuple[Observation, Shadow]],
    held: Sequence[Side] = (),
) -> Resolution:
    """Apply the reconciliation rule to every observation of one (subject, purpose).

    `held`: what each active record of the subject holds of its own once this batch is read
    (a value read there, not one consent-sync wrote), with its link and as of when. A denial in
    it is its system's answer for the person; it also names the records behind a disagreement.
    """
    verdicts: list[Verdict] = []
    candidates: list[_Candidate] = []
    for observation, shadow in inputs:
        if observation.purpose != purpose.name:
            raise ValueError(
                f"observation of {observation.purpose!r} reconciled as {purpose.name!r}"
            )
        if shadow.last_seen is observation.status and observation.link is not None:
            verdicts.append(Verdict(observation, "no_change"))
        elif shadow.last_written is observation.status and observation.link is not None:
            verdicts.append(Verdict(observation, "echo"))
        else:
            candidates.append(_Candidate(observation, shadow))

    # Decision-time order; at equal times the denial goes last, so it is the one that stands.
    candidates.sort(key=lambda c: (c.observation.decided_at, c.observation.status is Status.DENIED))
    conflicts: list[Conflict] = []

    if not canonical.known:
        canonical, adopted = _adopt_first_sight(purpose, canonical, candidates, conflicts, held)
        verdicts.extend(adopted)
    else:
        conflicts.extend(_concurrent_changes(purpose, candidates))
        for candidate in candidates:
            canonical, verdict = _settle(purpose, canonical, candidate, held)
            verdicts.append(verdict)
            conflicts.extend(verdict.conflicts)

    return Resolution(purpose.name, canonical, tuple(verdicts), tuple(conflicts))


def _adopt_first_sight(
    purpose: Purpose,
    canonical: Canonical,
    candidates: list[_Candidate],
    conflicts: list[Conflict],
    held: Sequence[Side],
) -> tuple[Canonical, list[Verdict]]:
    """Rule 5: adopt what systems say while the store knows nothing; denial wins disagreement."""
    known = [c for c in candidates if c.observation.status is not Status.UNKNOWN]
    verdicts = [Verdict(c.observation, "unknown_ignored") for c in candidates if c not in known]
    if all(c.observation.status is not Status.DENIED for c in known):
        # A grant from a system whose other record denies is not that system's answer.
        for c in [c for c in known if c.observation.status is Status.GRANTED]:
            if deniers := holdings.deniers(c.observation, held):
                known.remove(c)
                _, verdict = _least_permissive(purpose, canonical, c, "first_sight", deniers)
                verdicts.append(verdict)
                conflicts.extend(verdict.conflicts)
    if not known:
        return canonical, verdicts
    statuses = {c.observation.status for c in known}
    denials = [c for c in known if c.observation.status is Status.DENIED]
    if not denials:
        # An explicit grant is adopted over records that merely show no objection; they agree.
        grants = [c for c in known if c.observation.status is Status.GRANTED]
        winner, rule = (grants or known)[0], "first_sight"
    elif len(statuses) == 1:
        winner, rule = known[0], "first_sight"
    else:
        winner = denials[0]
        rule = "first_sight_denial_wins"
        sides = tuple(c.side for c in known)
        conflicts.append(
            Conflict(
                ConflictKind.INITIAL_DISAGREEMENT,
                purpose.name,
                sides,
                rule,
                "systems disagreed at first sight; the denial was adopted",
                detail=holdings.records(*sides),
            )
        )
    decision = _decision(purpose, canonical, winner.observation, rule)
    when = winner.observation.decided_at  # the earliest grant, or the earliest denial...
    if winner.observation.status is Status.DENIED:  # ...affirmed until the latest one
        when = max(c.observation.decided_at for c in known if c.observation.status is Status.DENIED)
    new = Canonical(winner.observation.status, when, winner.observation.source, True)
    for c in known:
        if c is winner:
            verdicts.append(Verdict(c.observation, "adopted", decision))
        elif _agrees(c.observation.status, winner.observation.status):
            verdicts.append(Verdict(c.observation, "agreement"))
        else:
            verdicts.append(Verdict(c.observation, "blocked"))
    return new, verdicts


def _concurrent_changes(purpose: Purpose, candidates: list[_Candidate]) -> list[Conflict]:
    """Two systems changed the purpose in different directions since the last cycle."""
    changes = [
        c
        for c in candidates
        if c.is_change and c.observation.link and c.observation.status is not Status.UNKNOWN
    ]
    if len({c.observation.source for c in changes}) < 2:
        return []
    if len({c.observation.status is Status.DENIED for c in changes}) < 2:
        return []  # a grant and a cleared opt-out point the same way
    return [
        Conflict(
            ConflictKind.CONCURRENT_CHANGE,
            purpose.name,
            tuple(c.side for c in changes),
            purpose.policy.value,
            "systems changed this purpose in different directions; taken in decision-time order",
        )
    ]


def _settle(
    purpose: Purpose, c: Canonical, candidate: _Candidate, held: Sequence[Side]
) -> tuple[Canonical, Verdict]:
    """Rules 3, 4 and 6 for one observation against a known canonical state."""
    o = candidate.observation
    if o.status is c.status:
        return _affirmed(c, o), Verdict(o, "agreement")
    if o.status is Status.UNKNOWN:
        return c, Verdict(o, "unknown_ignored")
    if o.status is Status.NOT_OPTED_OUT:
        return _no_objection(purpose, c, candidate, held)
    if c.status is Status.NOT_OPTED_OUT:  # nobody decided anything yet: any decision applies
        if o.status is Status.DENIED:
            return _deny(purpose, c, candidate, purpose.policy, purpose.policy.value, held)
        return _apply(purpose, c, o, purpose.policy.value, ())

    policy, rule = purpose.policy, purpose.policy.value
    if policy is Policy.SOURCE_PRIORITY:
        ours, theirs = _rank(purpose, o.source), _rank(purpose, c.source)
        if ours is None or theirs is None or ours == theirs:
            policy, rule = Policy.REVOCATION_WINS, "source_priority_fallback_revocation_wins"
        elif ours > theirs:
            return c, Verdict(o, "superseded")

    if policy is Policy.LAST_WRITER_WINS:
        newer = c.decided_at is None or o.decided_at > c.decided_at
        tie = c.decided_at is not None and o.decided_at == c.decided_at
        if not (newer or (tie and o.status is Status.DENIED) or holdings.overrules(c, o)):
            return c, Verdict(o, "superseded")

    if o.status is Status.DENIED:
        return _deny(purpose, c, candidate, policy, rule, held)

    blocked = _grant_blocker(purpose, c, candidate, policy)
    if blocked is None:
        if deniers := holdings.deniers(o, held):
            return _least_permissive(purpose, c, candidate, rule, deniers)
        return _apply(purpose, c, o, rule, ())
    if blocked == "first_sight" and c.imported:
        kind, named = ConflictKind.INITIAL_DISAGREEMENT, holdings.others(o, held, Status.DENIED)
        return _blocked(purpose, c, candidate, kind, rule, blocked, named)
    return _blocked(purpose, c, candidate, ConflictKind.GRANT_BLOCKED, rule, blocked)


def _deny(
    purpose: Purpose,
    c: Canonical,
    candidate: _Candidate,
    policy: Policy,
    rule: str,
    held: Sequence[Side],
) -> tuple[Canonical, Verdict]:
    """A denial that applies over a grant or an absence of objection.

    A record first seen denying what another record of its system set at first sight (a Lead
    read a page after its Contact) is rule 5 across pages: the denial is adopted, still as
    imported, and an info `initial_disagreement` names the records that said otherwise.
    """
    o = candidate.observation
    if candidate.is_change or not c.imported or not holdings.same_system(c, o):
        return _apply(purpose, c, o, rule, _stale_override(purpose, c, candidate, policy))
    named = holdings.others(o, held, Status.GRANTED, Status.NOT_OPTED_OUT)
    side = _canonical_side(c)
    conflict = holdings.first_sight_denial(purpose.name, candidate.side, side, named)
    new, verdict = _apply(purpose, c, o, "first_sight_denial_wins", (conflict,))
    return replace(new, imported=True), verdict


def _least_permissive(
    purpose: Purpose, c: Canonical, candidate: _Candidate, rule: str, deniers: tuple[Side, ...]
) -> tuple[Canonical, Verdict]:
    """A grant from a record whose system denies on another record of the person: blocked."""
    side = _canonical_side(c)
    conflict = holdings.denied_in_system(purpose.name, candidate.side, side, rule, deniers, c.known)
    return c, Verdict(candidate.observation, "blocked", None, (conflict,))


def _no_objection(
    purpose: Purpose, c: Canonical, candidate: _Candidate, held: Sequence[Side]
) -> tuple[Canonical, Verdict]:
    """A record showing no objection against a known state: it agrees with a grant, and it
    never lifts a denial (the denial is pushed back to it).

    Clearing an opt-out that was set (a rep unticking the box) is recorded for review; a record
    first seen without an objection for a person who objected elsewhere is routine.
    """
    o = candidate.observation
    if c.status is Status.GRANTED:
        return c, Verdict(o, "agreement")
    if not candidate.is_change:
        if not c.imported:
            return c, Verdict(o, "blocked")
        named = holdings.others(o, held, Status.DENIED)
        kind, rule = ConflictKind.INITIAL_DISAGREEMENT, purpose.policy.value
        return _blocked(purpose, c, candidate, kind, rule, "first_sight", named)
    kind, blocked = ConflictKind.GRANT_BLOCKED, "not_a_grant"
    return _blocked(purpose, c, candidate, kind, purpose.policy.value, blocked)


def _blocked(
    purpose: Purpose,
    c: Canonical,
    candidate: _Candidate,
    kind: ConflictKind,
    rule: str,
    reason: str,
    named: tuple[Side, ...] = (),
) -> tuple[Canonical, Verdict]:
    """The canonical state stands against `candidate`; one conflict says which rule and why,
    naming the `named` records that hold the canonical answer."""
    o = candidate.observation
    conflict = Conflict(
        kind,
        purpose.name,
        (candidate.side, _canonical_side(c), *named),
        f"{rule}:{reason}",
        _BLOCK_REASONS[reason],
        link=o.link,
        detail=holdings.records(candidate.side, *named) if named else MappingProxyType({}),
    )
    return c, Verdict(o, "blocked", None, (conflict,))


def _agrees(status: Status, adopted: Status) -> bool:
    """Whether a first sight says the same as the adopted status (no objection agrees with a
    grant)."""
    return status is adopted or (status is Status.NOT_OPTED_OUT and adopted is Status.GRANTED)


_BLOCK_REASONS = {
    "not_a_grant": "clearing an opt-out is not an opt-in: the denial stands and is pushed back",
    "source_not_allowed": "this system may not grant this purpose (grant_sources)",
    "not_newer": "the grant is not newer than the denial it would lift",
    "first_sight": "a first sight of a record never turns a denial into a grant",
    "evidence_missing": "this purpose requires evidence for a grant and none was given",
}


def _grant_blocker(
    purpose: Purpose, c: Canonical, candidate: _Candidate, policy: Policy
) -> str | None:
    """Why a grant may not lift the canonical denial, or None if it may."""
    o = candidate.observation
    if c.status is not Status.DENIED:
        return None
    if not candidate.is_change:
        return "first_sight"  # the resubscribe guard holds under every policy
    if policy is not Policy.REVOCATION_WINS:
        return None
    if not purpose.may_grant(o.source):
        return "source_not_allowed"
    if c.decided_at is not None and not o.decided_at > c.decided_at:
        return "not_newer"
    if purpose.require_evidence and not o.evidence.is_substantive():
        return "evidence_missing"
    return None


def _stale_override(
    purpose: Purpose, c: Canonical, candidate: _Candidate, policy: Policy
) -> tuple[Conflict, ...]:
    o = candidate.observation
    if c.status is not Status.GRANTED or c.decided_at is None or not o.decided_at < c.decided_at:
        return ()
    if policy is Policy.REVOCATION_WINS:
        rule, why = "revocation_wins", "revocations always apply"
    elif policy is Policy.LAST_WRITER_WINS and holdings.overrules(c, o):
        rule, why = "last_writer_wins:least_permissive", f"a record of {o.source} denies"
    else:
        return ()
    return (
        Conflict(
            ConflictKind.STALE_OVERRIDE,
            purpose.name,
            (candidate.side, _canonical_side(c)),
            rule,
            f"a denial older than the grant it overrides was applied: {why}",
            link=o.link,
        ),
    )


def _apply(
    purpose: Purpose, c: Canonical, o: Observation, rule: str, conflicts: tuple[Conflict, ...]
) -> tuple[Canonical, Verdict]:
    decision = _decision(purpose, c, o, rule)
    # A stale denial keeps the newer time, so no grant older than the one it overrode lifts it.
    decided_at = o.decided_at if c.decided_at is None else max(o.decided_at, c.decided_at)
    new = replace(c, status=o.status, decided_at=decided_at, source=o.source, imported=False)
    return new, Verdict(o, "applied", decision, conflicts)


def _affirmed(c: Canonical, o: Observation) -> Canonical:
    """`c` after `o` agreed with it: a denial affirmed later takes the later time.

    A grant must then be newer than the latest denial anyone made, not only than the first one
    the store recorded. Grants are not moved forward: an edit that merely shows a grant again
    must never let it outrun a real revocation.
    """
    if c.status is not Status.DENIED or c.decided_at is None or o.decided_at <= c.decided_at:
        return c
    return replace(c, decided_at=o.decided_at)


def _decision(purpose: Purpose, c: Canonical, o: Observation, rule: str) -> Decision:
    if o.source.startswith(MANUAL_PREFIX):
        rule = "manual"
    return Decision(
        purpose.name,
        o.status,
        c.status,
        o.decided_at,
        o.time_kind,
        o.source,
        o.link,
        rule,
        o.evidence,
    )


def _rank(purpose: Purpose, source: str | None) -> int | None:
    """Index in `source_priority` (0 is highest), or None for unlisted sources."""
    if source is None or source not in purpose.source_priority:
        return None
    return purpose.source_priority.index(source)
