"""The account and its audience: `/3.0/ping`, `/3.0/`, `/3.0/lists`, `/3.0/lists/{list_id}` and
its merge fields."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from consent_sync_sandbox.mailchimp.audience import LIST_NAME, LIST_WEB_ID, MERGE_FIELDS, iso_s
from consent_sync_sandbox.mailchimp.context import Audience
from consent_sync_sandbox.mailchimp.errors import not_found
from consent_sync_sandbox.mailchimp.shape import Paths, shape, split

ACCOUNT_ID = "8d3a3db4d97663a9074efcc16"
_CREATED = 1_577_836_800  # 2020-01-01


def lists_router(audience: Audience) -> APIRouter:
    """Account and audience endpoints."""
    router = APIRouter()

    @router.get("/3.0/ping")
    def ping() -> dict[str, str]:
        return {"health_status": "Everything's Chimpy!"}

    @router.get("/3.0/")
    def root(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "account_id": ACCOUNT_ID,
            "login_id": "130284651",
            "account_name": "consent-sync sandbox",
            "email": "owner@example.com",
            "username": "sandbox-owner",
            "role": "owner",
            "pricing_plan_type": "monthly",
            "account_timezone": "UTC",
            "account_industry": "Software",
            "total_subscribers": audience.store.status_counts().get("subscribed", 0),
            "_links": [{"rel": "self", "href": f"{base}/3.0/", "method": "GET"}],
        }

    def list_json(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        counts = audience.store.status_counts()
        list_id = audience.list_id
        return {
            "id": list_id,
            "web_id": LIST_WEB_ID,
            "name": LIST_NAME,
            "contact": {
                "company": "consent-sync sandbox",
                "address1": "1 Example Street",
                "city": "Springfield",
                "state": "",
                "zip": "00000",
                "country": "US",
            },
            "permission_reminder": "You signed up for our newsletter on our website.",
            "use_archive_bar": True,
            "campaign_defaults": {
                "from_name": "Newsletter",
                "from_email": "news@example.com",
                "subject": "",
                "language": "en",
            },
            "notify_on_subscribe": "",
            "notify_on_unsubscribe": "",
            "date_created": iso_s(_CREATED),
            "list_rating": 3,
            "email_type_option": False,
            "subscribe_url_short": "https://eepurl.com/sandbox",
            "subscribe_url_long": f"{base}/subscribe?u={ACCOUNT_ID}&id={list_id}",
            "beamer_address": f"us21-{list_id}@inbound.mailchimp.com",
            "visibility": "prv",
            "double_optin": audience.settings.double_optin,
            "has_welcome": False,
            "marketing_permissions": audience.settings.gdpr,
            "modules": [],
            "stats": {
                "member_count": counts.get("subscribed", 0),
                "total_contacts": sum(counts.values()),
                "unsubscribe_count": counts.get("unsubscribed", 0),
                "cleaned_count": counts.get("cleaned", 0),
                "member_count_since_send": 0,
                "unsubscribe_count_since_send": 0,
                "cleaned_count_since_send": 0,
                "campaign_count": 0,
                "last_sub_date": iso_s(audience.store.last_changed("subscribed")),
                "last_unsub_date": iso_s(audience.store.last_changed("unsubscribed")),
            },
            "_links": [{"rel": "self", "href": f"{base}/3.0/lists/{list_id}", "method": "GET"}],
        }

    @router.get("/3.0/lists")
    def get_lists(
        request: Request, fields: Paths = None, exclude_fields: Paths = None
    ) -> dict[str, Any]:
        body = {"lists": [list_json(request)], "total_items": 1, "constraints": {}}
        return shape(body, split(fields), split(exclude_fields))

    @router.get("/3.0/lists/{list_id}")
    def get_list(
        list_id: str, request: Request, fields: Paths = None, exclude_fields: Paths = None
    ) -> dict[str, Any]:
        audience.check(list_id)
        return shape(list_json(request), split(fields), split(exclude_fields))

    def merge_json(index: int) -> dict[str, Any]:
        merge = MERGE_FIELDS[index]
        return {
            "merge_id": merge.merge_id,
            "tag": merge.tag,
            "name": merge.name,
            "type": merge.type,
            "required": False,
            "default_value": "",
            "public": True,
            "display_order": index + 2,
            "options": {"size": 25} if merge.type == "text" else {"phone_format": "none"},
            "help_text": "",
            "list_id": audience.list_id,
        }

    @router.get("/3.0/lists/{list_id}/merge-fields")
    def get_merge_fields(
        list_id: str, fields: Paths = None, exclude_fields: Paths = None
    ) -> dict[str, Any]:
        audience.check(list_id)
        body = {
            "merge_fields": [merge_json(i) for i in range(len(MERGE_FIELDS))],
            "list_id": list_id,
            "total_items": len(MERGE_FIELDS),
        }
        return shape(body, split(fields), split(exclude_fields))

    @router.get("/3.0/lists/{list_id}/merge-fields/{merge_id}")
    def get_merge_field(list_id: str, merge_id: int) -> dict[str, Any]:
        audience.check(list_id)
        for index, merge in enumerate(MERGE_FIELDS):
            if merge.merge_id == merge_id:
                return merge_json(index)
        raise not_found()

    return router
