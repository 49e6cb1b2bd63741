#!/usr/bin/env python3
"""How long the reactor thread waits while a big JSON answer is encoded (issue 20 item 2).

A heartbeat thread stands in for the reactor: it sleeps 0.5 ms at a time and records the longest
time between two of its wake-ups. "before": json.dumps of the whole body (what every answer
used). "after": util/json_encoding.encode_in_pieces on another thread (what a big answer uses).
Run by hand from the repository root: .venv/bin/python bench/run_json_gil_bench.py"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from homeserver.util.json_encoding import encode_in_pieces  # noqa: E402


def sync_like(rooms: int, events: int) -> dict[str, Any]:
    def event(i: int) -> dict[str, Any]:
        return {"type": "m.room.message", "event_id": f"$event{i}abcdefghijklmnopqrstuvwxyz", "sender": "@alice:test",
                "origin_server_ts": 1_700_000_000_000 + i, "room_id": "!room:test",
                "content": {"msgtype": "m.text", "body": f"héllo wörld message number {i} " * 3},
                "unsigned": {"age": 5, "transaction_id": "txn"}}

    return {"next_batch": "s1", "rooms": {"join": {
        f"!r{r}:test": {"timeline": {"events": [event(i) for i in range(events)], "limited": False}}
        for r in range(rooms)}}}


class Heartbeat(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.longest = 0.0
        self.stop = False

    def run(self) -> None:
        last = time.perf_counter()
        while not self.stop:
            time.sleep(0.0005)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            last = now


def measure(label: str, work: Any, in_thread: bool) -> None:
    beat = Heartbeat()
    beat.start()
    time.sleep(0.05)
    start = time.perf_counter()
    if in_thread:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    else:
        work()
    took = time.perf_counter() - start
    beat.stop = True
    beat.join()
    print(f"{label:<40} encode {took * 1000:7.1f} ms   longest reactor wait {beat.longest * 1000:7.1f} ms")


def main() -> None:
    for rooms, events in ((10, 100), (50, 400), (100, 1000)):
        body = sync_like(rooms, events)
        size = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
        print(f"body: {rooms} rooms x {events} events, {size / 1e6:.1f} MB")
        for _ in range(2):
            measure("  before: json.dumps, one call", lambda b=body: json.dumps(
                b, ensure_ascii=False, separators=(",", ":")).encode(), in_thread=True)
            measure("  after: encode_in_pieces on a thread", lambda b=body: encode_in_pieces(b), in_thread=True)


if __name__ == "__main__":
    main()
