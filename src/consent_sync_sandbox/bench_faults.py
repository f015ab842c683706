"""The benchmark under faults: the same backfill fault-free and with 10% 429s and 5% 5xx.

Both runs start from the same seed, so once quiet they must end with the same opted-out sets in
the store and in both CRMs; on top of that I1 and I2 are checked on marketing email over the
whole data: every denial the store holds is in both CRMs, every CRM opt-out is a store denial.
"""

from __future__ import annotations

import hashlib
from typing import Any

from consent_sync_sandbox import bench_data, bench_scenarios
from consent_sync_sandbox.bench_report import Figure
from consent_sync_sandbox.bench_stage import SYSTEMS, Bench, control, run_child, sandbox
from consent_sync_sandbox.runner import RunningSandbox


def faults(bench: Bench) -> None:
    """The fault-free and the faulted backfill of the same seed; time ratio, nothing lost."""
    o = bench.options
    walls: dict[str, float] = {}
    for label, rules in (("faults_off", None), ("faults_on", bench_scenarios.fault_config())):
        work = o.work_dir / label
        work.mkdir(parents=True, exist_ok=True)
        for stale in work.glob("store.db*"):
            stale.unlink()
        url = f"sqlite:///{work / 'store.db'}"
        bench.say(f"{label}: {o.fault_contacts:,} contacts per CRM ...")
        with sandbox(work, o.fault_contacts) as running:
            if rules is not None:
                for name in SYSTEMS:
                    with control(running, name) as client:
                        client.put("/_sandbox/faults", json=rules).raise_for_status()
            result = run_child(bench, running, url, label, 0)
            for name in SYSTEMS:
                with control(running, name) as client:
                    client.delete("/_sandbox/faults").raise_for_status()
            walls[label] = result["wall_seconds"]
            outcome = lost(running, url)
        result["injected_errors"] = {}
        for name, system in result["systems"].items():
            endpoints = system.pop("endpoints", {})
            result["injected_errors"][name] = {
                status: sum(int(counts.get(status, 0)) for counts in endpoints.values())
                for status in ("429", "503")
            }
        result["lost"] = outcome
        bench.details[label] = result
    ratio = walls["faults_on"] / walls["faults_off"] if walls["faults_off"] else None
    outcome = bench.details["faults_on"]["lost"]
    bench.add(
        Figure("faults", "backfill wall time, fault-free", walls["faults_off"], "s"),
        Figure("faults", "backfill wall time, 10% 429 + 5% 5xx", walls["faults_on"], "s"),
        Figure("faults", "wall-time ratio to fault-free", ratio, "x"),
        Figure("faults", "denials lost (I1)", outcome["i1_violations"], "", "==", 0),
        Figure("faults", "values disagreeing (I2)", outcome["i2_violations"], "", "==", 0),
        Figure(
            "faults",
            "differences from the fault-free run",
            int(bench.details["faults_off"]["lost"]["fingerprint"] != outcome["fingerprint"]),
            "",
            "==",
            0,
        ),
    )


def lost(running: RunningSandbox, url: str) -> dict[str, Any]:
    """I1/I2 on marketing email: the store's denials in both CRMs, and theirs in the store.

    I2 counts the CRM opt-outs of people the store knows: a record whose email the store refused
    (malformed, or shared by two people: a conflict for on-call) links to no subject, so its
    opt-out cannot be a store denial, and is reported apart as `unlinked_opt_outs`.
    """
    known, denied = bench_scenarios.store_emails(url)
    sf = bench_data.salesforce_holdings(running.env)
    hs = bench_data.hubspot_holdings(running.env)
    i1 = (denied & sf.emails) - sf.opted_out | (denied & hs.emails) - hs.opted_out
    opted_out = sf.opted_out | hs.opted_out
    i2 = (opted_out & known) - denied
    return {
        "store_subjects": len(known),
        "unlinked_opt_outs": len(opted_out - known),
        "store_denied": len(denied),
        "salesforce_opted_out": len(sf.opted_out),
        "hubspot_unsubscribed": len(hs.opted_out),
        "i1_violations": len(i1),
        "i2_violations": len(i2),
        "fingerprint": fingerprint(denied, sf.opted_out, hs.opted_out),
    }


def fingerprint(*sets: set[str]) -> str:
    """A digest of the three sets of opted-out emails: equal runs have equal digests."""
    digest = hashlib.sha256()
    for emails in sets:
        digest.update("\n".join(sorted(emails)).encode() + b"\0")
    return digest.hexdigest()[:16]
