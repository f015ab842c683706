"""The sandbox's own surface: a person acts, inspection, garbled answers."""

from __future__ import annotations

import httpx


def _first(api: httpx.Client, extra: str = "") -> dict[str, object]:
    flt = "donotbulkemail eq false and donotemail eq false and emailaddress1 ne null" + extra
    return dict(api.get("/contacts", params={"$filter": flt, "$top": "1"}).json()["value"][0])


def test_a_rep_ticking_a_box_moves_modifiedon_and_the_row_version(
    api: httpx.Client, control: httpx.Client
) -> None:
    """`edit` writes the fields as the contact form would: new version, modifiedon now."""
    row = _first(api)
    after = control.post(
        "/_sandbox/act",
        json={"action": "edit", "id": row["contactid"], "fields": {"donotbulkemail": True}},
    ).json()
    assert after["donotbulkemail"] is True
    assert after["versionnumber"] > row["versionnumber"]
    assert after["modifiedon"] >= row["modifiedon"]


def test_a_person_opting_out_of_all_email_ticks_both_boxes(
    api: httpx.Client, control: httpx.Client
) -> None:
    """`opt_out` with channel all_email ticks donotbulkemail and donotemail, by email."""
    row = _first(api)
    control.post(
        "/_sandbox/act",
        json={
            "action": "opt_out",
            "email": str(row["emailaddress1"]).upper(),
            "channel": "all_email",
        },
    ).raise_for_status()
    seen = control.get("/_sandbox/contacts", params={"email": row["emailaddress1"]}).json()
    assert [(c["donotbulkemail"], c["donotemail"]) for c in seen] == [(True, True)]


def test_create_and_delete_through_the_sandbox(api: httpx.Client, control: httpx.Client) -> None:
    """A created contact is served by the API; a deleted one answers 404."""
    made = control.post(
        "/_sandbox/act",
        json={"action": "create", "email": "made@example.com", "fields": {"lastname": "Made"}},
    ).json()
    assert made["fullname"] == "Made" and made["donotbulkemail"] is False
    assert api.get(f"/contacts({made['contactid']})").status_code == 200
    control.post("/_sandbox/act", json={"action": "delete", "id": made["contactid"]})
    assert api.get(f"/contacts({made['contactid']})").status_code == 404


def test_acting_with_a_field_dynamics_lacks_is_refused(
    api: httpx.Client, control: httpx.Client
) -> None:
    """An unknown column or a mistyped value answers Dataverse's 400 and changes nothing."""
    row = _first(api)
    response = control.post(
        "/_sandbox/act",
        json={"action": "edit", "id": row["contactid"], "fields": {"donotbulkemail": "yes"}},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "0x80060888"


def test_garbled_values_are_served_but_stored_values_still_filter(
    api: httpx.Client, control: httpx.Client
) -> None:
    """A garbled modifiedon and box are served as given; a filter on the true value still finds
    the contact; clearing serves the truth."""
    row = _first(api)
    control.put(
        "/_sandbox/garble",
        json={
            "email": row["emailaddress1"],
            "values": {"modifiedon": "soon", "donotbulkemail": "maybe"},
        },
    ).raise_for_status()
    served = api.get(f"/contacts({row['contactid']})").json()
    assert (served["modifiedon"], served["donotbulkemail"]) == ("soon", "maybe")
    found = api.get(
        "/contacts",
        params={"$filter": f"contactid eq {row['contactid']} and donotbulkemail eq false"},
    )
    assert [r["donotbulkemail"] for r in found.json()["value"]] == ["maybe"]
    control.delete("/_sandbox/garble")
    assert api.get(f"/contacts({row['contactid']})").json()["donotbulkemail"] is False
