"""The cursor's resume token in the store (migration 0005), on SQLite and PostgreSQL: kept with
the watermark, replaced only by a newer one, never moving the watermark back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consent_sync.store import Store

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LINK = "fp|https://org.example/api/data/v9.2/contacts?$deltatoken=" + "9" * 600


def test_a_token_is_kept_with_the_cursor_and_read_back(store: Store) -> None:
    """A first cursor with a token holds both; a long link is kept whole."""
    assert store.coordination.resume_token("dynamics", "contacts") is None
    store.coordination.advance_cursor("dynamics", "contacts", T0, T0, resume=LINK)
    assert store.coordination.resume_token("dynamics", "contacts") == LINK
    assert store.coordination.cursor("dynamics", "contacts") == T0


def test_a_page_without_a_token_keeps_the_stored_one(store: Store) -> None:
    """Advancing the watermark alone leaves the token; a new token replaces it."""
    store.coordination.advance_cursor("dynamics", "contacts", T0, T0, resume=LINK)
    later = T0 + timedelta(minutes=5)
    store.coordination.advance_cursor("dynamics", "contacts", later, later)
    assert store.coordination.resume_token("dynamics", "contacts") == LINK
    store.coordination.advance_cursor("dynamics", "contacts", later, later, resume="fp|next")
    assert store.coordination.resume_token("dynamics", "contacts") == "fp|next"


def test_a_token_without_a_watermark_never_moves_the_cursor(store: Store) -> None:
    """A last page carrying only a token (nothing changed) stores it, the watermark stays put;
    a first cursor without a watermark starts at `now`; the watermark never goes back."""
    store.coordination.advance_cursor("dynamics", "contacts", None, T0, resume="fp|a")
    assert store.coordination.cursor("dynamics", "contacts") == T0
    later = T0 + timedelta(hours=1)
    store.coordination.advance_cursor("dynamics", "contacts", None, later, resume="fp|b")
    assert store.coordination.cursor("dynamics", "contacts") == T0
    store.coordination.advance_cursor("dynamics", "contacts", T0 - timedelta(days=1), later)
    assert store.coordination.cursor("dynamics", "contacts") == T0
    assert store.coordination.resume_token("dynamics", "contacts") == "fp|b"
