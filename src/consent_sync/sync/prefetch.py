"""Reading the next page while the last one commits: one page ahead, in one worker thread.

A pull used to fetch page N+1 only after page N's decisions were committed, so the network and
the store never overlapped. `prefetched` advances the connector's page iterator in a worker
thread exactly one page ahead of the caller: page N+1 is being fetched while the caller commits
page N, and never more than that one page waits in memory. Pages come out in the connector's
order, and the caller still advances the cursor only after a page is committed, so a crash
(even `kill -9`) loses nothing: at worst the prefetched page is read again on restart.

An error raised while fetching a page is raised by the caller's loop at that page's turn, after
every earlier page was handed out, as if nothing were prefetched. The worker touches only the
connector, never the store. The caller may use the connector itself between two pages only
after `settle` (the daemon reads what a webhook named there): connectors are not made to be
called from two threads at once, and once settled the worker is idle until the caller asks for
the next page.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar, cast

__all__ = ["Prefetched", "prefetched"]

_T = TypeVar("_T")
_END = object()


def prefetched(pages: Iterable[_T]) -> Prefetched[_T]:
    """The items of `pages`, each next one fetched in a worker while the caller handles this one.

    Closing the returned iterator (or leaving its loop by an exception) waits for the page in
    flight, then closes the underlying iterator.
    """
    return Prefetched(pages)


class Prefetched(Iterator[_T]):
    """An iterator one item ahead of its caller, the next item fetched in a worker thread."""

    def __init__(self, pages: Iterable[_T]) -> None:
        self._source = iter(pages)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="consent-sync-prefetch"
        )
        self._upcoming: Future[object] | None = self._executor.submit(next, self._source, _END)

    def __next__(self) -> _T:
        if self._upcoming is None:
            raise StopIteration
        try:
            page = self._upcoming.result()
        except BaseException:
            self.close()
            raise
        if page is _END:
            self.close()
            raise StopIteration
        self._upcoming = self._executor.submit(next, self._source, _END)
        return cast(_T, page)

    def settle(self) -> None:
        """Wait for the item being fetched: the source is then idle until the next `next`."""
        if self._upcoming is not None:
            wait([self._upcoming])

    def close(self) -> None:
        """Wait for the item in flight, stop the worker and close the source (once)."""
        upcoming, self._upcoming = self._upcoming, None
        if upcoming is None:
            return
        # The worker may still be inside the source: let it finish before closing the source
        # (a generator cannot be closed while it runs), and never leave the thread behind.
        wait([upcoming])
        self._executor.shutdown(wait=True)
        close = getattr(self._source, "close", None)
        if close is not None:
            close()
