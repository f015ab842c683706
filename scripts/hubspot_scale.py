"""Measure the HubSpot emulator at scale: seeding time, RSS, and bare-client paging time.

    .venv/bin/python scripts/hubspot_scale.py --contacts 1000000

Seeds the emulator in-process, serves it over TLS, then pages through every contact with
hubspot-api-client's list endpoint (limit 100) and runs one incremental search, printing figures.
"""

from __future__ import annotations

import argparse
import gc
import resource
import tempfile
import time
from pathlib import Path

from hubspot import HubSpot
from hubspot.crm.contacts import PublicObjectSearchRequest
from urllib3.util.retry import Retry

from consent_sync_sandbox.common import ServerThread, make_tls
from consent_sync_sandbox.hubspot import build_hubspot


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--no-paging", action="store_true", help="only seed and report memory")
    args = parser.parse_args()

    before = rss_mb()
    started = time.perf_counter()
    emulator = build_hubspot(args.contacts, rate_limit=10**9, search_rate=10**6, daily_limit=10**9)
    seeded = time.perf_counter() - started
    print(
        f"seeded {args.contacts:,} contacts in {seeded:.1f} s; "
        f"RSS {before:.0f} -> {rss_mb():.0f} MiB"
    )
    if args.no_paging:
        return

    with tempfile.TemporaryDirectory() as state:
        tls = make_tls(Path(state))
        server = ServerThread(emulator.app, tls).start()
        env = emulator.client_env(server.base_url, tls.ca_pem)
        client = HubSpot(
            access_token=env["HUBSPOT_ACCESS_TOKEN"],
            host=server.base_url,
            ssl_ca_cert=str(tls.ca_pem),
            retry=Retry(total=0, respect_retry_after_header=False, raise_on_status=False),
        )
        basic = client.crm.contacts.basic_api
        started = time.perf_counter()
        pages = records = 0
        after = None
        while True:
            page = basic.get_page(limit=100, after=after, properties=["email", "lastmodifieddate"])
            pages += 1
            records += len(page.results)
            if page.paging is None:
                break
            after = page.paging.next.after
        paged = time.perf_counter() - started
        print(
            f"bare hubspot-api-client paged {records:,} contacts in {pages:,} list calls: "
            f"{paged:.1f} s ({records / paged:,.0f} records/s)"
        )
        search = client.crm.contacts.search_api
        started = time.perf_counter()
        result = search.do_search(
            PublicObjectSearchRequest(
                filter_groups=[
                    {
                        "filters": [
                            {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}
                        ]
                    }
                ],
                sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                limit=200,
            )
        )
        print(
            f"first incremental search page (200 of {result.total:,}): "
            f"{(time.perf_counter() - started) * 1000:.0f} ms"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"RSS after serving: {rss_mb():.0f} MiB; peak {peak:.0f} MiB")
        del basic, search, client
        gc.collect()  # close the client's pooled TLS sockets so the server stops promptly
        server.stop()


if __name__ == "__main__":
    main()
