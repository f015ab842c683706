"""Reading the next page while the last one commits: one page ahead, in one worker thread.

A pull used to fetch page N+1 only after page N's decisions were committed, so the network and
the store never overlapped. `prefetched` advances the connector's page iterator in a worker
thread exactly one page ahead of the caller: page N+1 is being fetched while the caller commits
page N, and never more than that one page waits in memory. Pages come out in the connector's
order, and the caller still advances the cursor only after a page is committed, so a crash
(even `kill -9`) loses nothing: at worst the prefetched page is read again on restart.

An error raised while fetching a page is raised by the caller's loop at that page's turn, after
every earlier page was handed out, as if nothing were prefetched. The worker touches only the
connector, never the store, and the connector is not used by the caller while a pull runs.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar, cast

__all__ = ["prefetched"]

_T = TypeVar("_T")
_END = object()


def prefetched(pages: Iterable[_T]) -> Generator[_T, None, None]:
    """The items of `pages`, each next one fetched in a worker while the caller handles this one.

    Closing the returned iterator (or leaving its loop by an exception) waits for the page in
    flight, then closes the underlying iterator.
    """
    source = iter(pages)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consent-sync-prefetch")
    upcoming: Future[object] = executor.submit(next, source, _END)
    try:
        while True:
            page = upcoming.result()
            if page is _END:
                return
            upcoming = executor.submit(next, source, _END)
            yield cast(_T, page)
    finally:
        # The worker may still be inside the source: let it finish before closing the source
        # (a generator cannot be closed while it runs), and never leave the thread behind.
        wait([upcoming])
        executor.shutdown(wait=True)
        close = getattr(source, "close", None)
        if close is not None:
            close()
