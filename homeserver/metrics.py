"""Prometheus metrics, served on a listener of `type: metrics` when `enable_metrics` is on."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

http_requests = Counter(
    "homeserver_http_requests_total", "HTTP requests by servlet, method and status", ["servlet", "method", "code"]
)
http_request_duration = Histogram(
    "homeserver_http_request_duration_seconds", "Time to answer an HTTP request", ["servlet", "method"]
)
db_txn_count = Counter("homeserver_db_transactions_total", "Database transactions started", ["desc"])
db_txn_duration = Histogram(
    "homeserver_db_transaction_duration_seconds", "Time spent in a database transaction", ["desc"]
)
long_polls_cut_short = Counter(
    "homeserver_long_polls_cut_short_total",
    "Long-polls (/sync, /events) answered early because their user opened more than the cap",
)
# Cache hits, misses and sizes: collected from the caches themselves (util/caches.py).
reactor_tick = Histogram(
    "homeserver_reactor_tick_seconds",
    "Time the reactor spent running callbacks in one iteration",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
federation_pending_pdus = Gauge("homeserver_federation_pending_pdus",
                                "Events queued for other servers, over all destinations")
federation_transactions = Counter("homeserver_federation_transactions_total",
                                  "Transactions sent to other servers, by outcome", ["outcome"])
federation_transaction_duration = Histogram("homeserver_federation_transaction_seconds",
                                            "Time for another server to accept a transaction we sent")
federation_received_pdus = Counter("homeserver_federation_received_pdus_total",
                                   "PDUs received from other servers, by outcome", ["outcome"])
build_info = Gauge("homeserver_build_info", "Version of this homeserver", ["version"])


_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(servlet: str, method: str, code: int, seconds: float) -> None:
    """Count a request and its latency (label lookups cached: this runs for every request)."""
    key = (servlet, method, code)
    children = _request_children.get(key)
    if children is None:
        children = (http_requests.labels(servlet, method, str(code)),
                    http_request_duration.labels(servlet, method))
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def instrument_reactor(reactor: Any) -> None:
    """Time each reactor iteration's callbacks (wraps runUntilCurrent); done once by `run`."""
    original = reactor.runUntilCurrent

    def timed_run_until_current(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            reactor_tick.observe(time.perf_counter() - start)

    reactor.runUntilCurrent = timed_run_until_current
