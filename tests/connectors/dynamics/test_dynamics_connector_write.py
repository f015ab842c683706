"""The shipped Dynamics connector writing: $batch of up to 1,000 updates, judged per update."""

from __future__ import annotations

from consent_sync.domain.records import FieldWrite, Record
from support.dynamics_org import BATCH, Org

CONTACTS = 3000


def _willing(org: Org, n: int) -> list[Record]:
    records = [r for page in org.connector().pull("contacts", None) for r in page.records]
    return [r for r in records if r.fields["donotbulkemail"] is False][:n]


def test_2200_opt_outs_go_in_three_batches_and_all_land(org: Org) -> None:
    """2,200 writes: ceil(2,200 / 1,000) = 3 `$batch` requests, every contact ticked."""
    targets = _willing(org, 2200)
    assert len(targets) == 2200
    org.reset_stats()
    results = org.connector().write(
        "contacts", [FieldWrite(r.record_id, {"donotbulkemail": True}) for r in targets]
    )
    assert [r.record_id for r in results] == [r.record_id for r in targets]
    assert all(r.ok for r in results)
    assert org.requests(BATCH) == 3
    sample = org.contact(targets[1234].record_id)
    assert sample["donotbulkemail"] is True


def test_per_record_outcomes_gone_retryable_and_permanent(org: Org) -> None:
    """In one batch: a deleted contact is `gone` (and not created again: If-Match: *), an injected
    per-record failure is retryable, a value Dataverse refuses is permanent, the rest ok."""
    good, deleted, failing, refused = (r.record_id for r in _willing(org, 4))
    org.act("delete", id=deleted)
    before = org.contact(refused)
    org.faults(batch_failure_ids=[failing])
    results = org.connector().write(
        "contacts",
        [
            FieldWrite(good, {"donotphone": True}),
            FieldWrite(deleted, {"donotphone": True}),
            FieldWrite(failing, {"donotphone": True}),
            FieldWrite(refused, {"donotphone": "yes"}),
        ],
    )
    by_id = {r.record_id: r for r in results}
    assert by_id[good].ok
    assert by_id[deleted].gone and not by_id[deleted].ok
    assert by_id[failing].retryable and not by_id[failing].ok
    assert not by_id[refused].ok and not by_id[refused].retryable and not by_id[refused].gone
    assert org.control.get("/_sandbox/contacts", params={"id": deleted}).status_code == 404
    assert org.contact(refused)["versionnumber"] == before["versionnumber"]  # nothing written


def test_a_grant_is_written_as_an_unticked_box(org: Org) -> None:
    """Lifting an opt-out writes donotbulkemail false: Dynamics has no opt-in to write."""
    target = _willing(org, 1)[0].record_id
    org.act("opt_out", id=target)
    [result] = org.connector().write("contacts", [FieldWrite(target, {"donotbulkemail": False})])
    assert result.ok
    assert org.contact(target)["donotbulkemail"] is False
