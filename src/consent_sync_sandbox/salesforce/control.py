"""`/_sandbox/*` for Salesforce: a person acts in the UI, tests peek at records and the meter.

None of these count against the API meter or the request stats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from consent_sync_sandbox.salesforce.auth import ApiMeter
from consent_sync_sandbox.salesforce.garble import Garble
from consent_sync_sandbox.salesforce.objects import sobject
from consent_sync_sandbox.salesforce.org import Org
from consent_sync_sandbox.salesforce.records import render
from consent_sync_sandbox.salesforce.schema import API_VERSIONS, SObjectSpec, id_sequence
from consent_sync_sandbox.salesforce.writes import check_references, check_write, with_derived

_VERSION = API_VERSIONS[-1]


class Act(BaseModel):
    """What a person does in the Salesforce UI to one record (or every record with an email)."""

    action: Literal["update", "create", "delete"] = "update"
    sobject: str = Field("Contact", description="any sObject the org serves")
    id: str | None = Field(None, description="the record to change")
    email: str | None = Field(None, description="or: every record with this email (any case)")
    fields: dict[str, Any] = Field(default_factory=dict, description="field values to write")
    stamp_offset_seconds: float = Field(
        0.0, description="commit with SystemModstamp shifted by this much (negative: late commit)"
    )
    stamp_at: datetime | None = Field(
        None, description="or: commit with exactly this SystemModstamp (to the millisecond)"
    )


class ApiUsage(BaseModel):
    used: int | None = Field(None, ge=0)
    daily_limit: int | None = Field(None, ge=0)


def _targets(org: Org, spec: SObjectSpec, act: Act) -> list[int]:
    """The live records the act names; deleted records cannot be edited in the UI."""
    if act.id is not None:
        seq = id_sequence(spec, act.id)
        row = None if seq is None else org.store.get(spec, seq)
        return [] if seq is None or row is None or row["IsDeleted"] else [seq]
    if act.email is not None:
        if not any(f.type == "email" for f in spec.fields):
            raise HTTPException(422, f"{spec.name} has no email field")
        return org.store.find_by_email(spec, act.email, live_only=True)
    raise HTTPException(422, "give `id` or `email`")


def control_router(org: Org, meter: ApiMeter) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox"])

    @router.post("/act")
    def act(request: Act) -> dict[str, Any]:
        spec = sobject(request.sobject)
        if spec is None:
            raise HTTPException(422, f"unknown sObject {request.sobject}")
        store = org.store
        values, errors = check_write(spec, request.fields, creating=request.action == "create")
        if errors and request.action != "delete":
            raise HTTPException(400, [e.as_json() for e in errors])
        offset = int(request.stamp_offset_seconds * 1000)
        exact = None if request.stamp_at is None else round(request.stamp_at.timestamp() * 1000)

        def stamp() -> int:
            return exact if exact is not None else store.clock.next() + offset

        with store.transaction():
            refused = check_references(store, values)
            if refused and request.action != "delete":
                raise HTTPException(400, [e.as_json() for e in refused])
            if request.action == "create":
                targets = [store.insert(spec, with_derived(spec, values, None), stamp())]
            else:
                targets = _targets(org, spec, request)
                if not targets:
                    raise HTTPException(404, "no such live record")
                for seq in targets:
                    if request.action == "delete":
                        store.delete(spec, seq, stamp())
                    else:
                        derived = with_derived(spec, values, store.get(spec, seq))
                        store.update(spec, seq, derived, stamp())
        rows = store.fetch(spec, targets)
        records = [render(spec, row, None, _VERSION) for row in rows]
        return {"ids": [r["Id"] for r in records], "records": records}

    @router.get("/records")
    def records(
        sobject_type: Annotated[str, Query(alias="sobject")] = "Contact",
        email: str | None = None,
        id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Records by email (any case) or id, deleted ones included, without using the API."""
        spec = sobject(sobject_type)
        if spec is None:
            raise HTTPException(422, f"unknown sObject {sobject_type}")
        if id is not None:
            seq = id_sequence(spec, id)
            seqs = [] if seq is None else [seq]
        elif email is not None:
            seqs = org.store.find_by_email(spec, email)
        else:
            raise HTTPException(422, "give `email` or `id`")
        return [render(spec, row, None, _VERSION) for row in org.store.fetch(spec, seqs)]

    @router.put("/garble", status_code=204)
    def put_garble(garble: Garble) -> None:
        """Serve some of a record's fields as what they cannot be (see `garble.py`)."""
        org.garbles.set(garble)

    @router.delete("/garble", status_code=204)
    def clear_garbles() -> None:
        org.garbles.clear()

    @router.get("/api-usage")
    def get_usage() -> dict[str, int]:
        return {"used": meter.used, "daily_limit": meter.daily_limit}

    @router.put("/api-usage")
    def put_usage(usage: ApiUsage) -> dict[str, int]:
        meter.set(usage.used, usage.daily_limit)
        return get_usage()

    return router
