#!/usr/bin/env python3
"""Hand-run benchmark: our homeserver vs Synapse, simplified sliding sync (MSC4186) against a full
initial /sync.

For each server in turn (never both at once), on SQLite, everything on 127.0.0.1: a user in many
rooms (default 2,000; each with a name and one message) then, each on a new device (as a client
signing in; Synapse caches identical /sync answers):

1. the first screen as Element X asks for it: one sliding sync request, list `all_rooms` with
   range [0, 19], `timeline_limit` 1 and Element X's required_state: wall time and server CPU;
2. a full initial /sync: wall time and server CPU;
3. incremental latency: the sliding sync connection long-polls; another user sends a message in
   one of the rooms; the time from the send to the answer carrying it (p50 over several).

    .venv/bin/python bench/run_sliding_sync_bench.py [--quick] [--only ours|synapse] [--rooms N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field

from client import CLIENT, Conn, create_room, q, register_many, run_pool, send_text
from common import (
    OUR_EXTRA,
    SYNAPSE_EXTRA,
    Server,
    bench_parser,
    busy_notes,
    fill_defaults,
    log,
    login_body,
    percentile,
    pin_load_generator,
    print_footer,
    print_header,
    process_group_cpu_seconds,
    ratio_cell,
    registration_secret,
    run_side_by_side,
    serving,
)

SSS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
ELEMENT_X_STATE = [
    ["m.room.name", ""], ["m.room.encryption", ""], ["m.room.member", "$LAZY"], ["m.room.member", "$ME"],
    ["m.room.topic", ""], ["m.room.avatar", ""], ["m.room.canonical_alias", ""], ["m.room.power_levels", ""],
    ["org.matrix.msc3401.call.member", "*"], ["m.room.join_rules", ""], ["m.room.tombstone", ""],
    ["m.room.create", ""], ["m.room.history_visibility", ""], ["m.space.parent", "*"], ["m.space.child", "*"],
    ["m.beacon_info", "*"],
]
FIRST_SCREEN = {"conn_id": "room-list", "lists": {"all_rooms": {
    "ranges": [[0, 19]], "timeline_limit": 1, "required_state": ELEMENT_X_STATE}},
    "extensions": {"account_data": {"enabled": True}, "receipts": {"enabled": True, "rooms": ["*"]},
                   "typing": {"enabled": True}}}


@dataclass
class Figures:
    first_screen_s: list[float] = field(default_factory=list)
    first_screen_cpu_s: list[float] = field(default_factory=list)
    first_screen_rooms: int = 0
    first_screen_count: int = 0
    first_screen_bytes: int = 0
    initial_sync_s: list[float] = field(default_factory=list)
    initial_sync_cpu_s: list[float] = field(default_factory=list)
    initial_sync_rooms: int = 0
    initial_sync_bytes: int = 0
    incremental_ms: list[float] = field(default_factory=list)
    incremental_lost: int = 0
    notes: list[str] = field(default_factory=list)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


async def bench(server: Server, args: argparse.Namespace, fig: Figures) -> None:
    port = server.port
    secret = registration_secret(server)
    user, sender = await register_many(port, secret, ["many_rooms", "sender"])
    t = time.perf_counter()

    async def make_room(c: Conn, i: int) -> str:
        room_id = await create_room(c, user, f"room {i}")
        await send_text(c, user, room_id, f"first-{i}", f"hello room {i}")
        return room_id

    rooms = await run_pool(port, [lambda c, i=i: make_room(c, i) for i in range(args.rooms)], 4)
    log(f"{server.label}: {args.rooms} rooms made in {time.perf_counter() - t:.1f}s")
    conn = Conn(port)
    try:
        # The sender joins a few rooms, for the incremental phase.
        targets = rooms[: args.messages]
        sender_id = (await conn.json("GET", f"{CLIENT}/account/whoami", None, sender))["user_id"]
        for room_id in targets:
            await conn.json("POST", f"{CLIENT}/rooms/{q(room_id)}/invite", {"user_id": sender_id}, user)
            await conn.json("POST", f"{CLIENT}/join/{q(room_id)}", {}, sender)
        for _ in range(args.repeats):
            token = (await conn.json("POST", f"{CLIENT}/login", login_body("many_rooms")))["access_token"]
            cpu0, t0 = process_group_cpu_seconds(server.proc.pid), time.perf_counter()
            status, payload = await conn.request("POST", f"{SSS}?timeout=0", FIRST_SCREEN, token)
            fig.first_screen_s.append(time.perf_counter() - t0)
            fig.first_screen_cpu_s.append(process_group_cpu_seconds(server.proc.pid) - cpu0)
            if status != 200:
                fig.notes.append(f"{server.label}: sliding sync answered {status}: {payload[:200]!r}")
                continue
            body = json.loads(payload)
            fig.first_screen_rooms = len(body.get("rooms", {}))
            fig.first_screen_count = body.get("lists", {}).get("all_rooms", {}).get("count", 0)
            fig.first_screen_bytes = len(payload)
        for _ in range(args.repeats):
            token = (await conn.json("POST", f"{CLIENT}/login", login_body("many_rooms")))["access_token"]
            cpu0, t0 = process_group_cpu_seconds(server.proc.pid), time.perf_counter()
            status, payload = await conn.request("GET", f"{CLIENT}/sync?timeout=0&set_presence=offline", None, token)
            fig.initial_sync_s.append(time.perf_counter() - t0)
            fig.initial_sync_cpu_s.append(process_group_cpu_seconds(server.proc.pid) - cpu0)
            if status == 200:
                fig.initial_sync_rooms = len(json.loads(payload).get("rooms", {}).get("join", {}))
                fig.initial_sync_bytes = len(payload)
        # Incremental: a long-polling connection, one message at a time.
        token = (await conn.json("POST", f"{CLIENT}/login", login_body("many_rooms")))["access_token"]
        poller = Conn(port)
        try:
            status, payload = await poller.request("POST", f"{SSS}?timeout=0", FIRST_SCREEN, token)
            pos = json.loads(payload)["pos"]
            for k, room_id in enumerate(targets):
                text = f"ping {k}"

                async def poll(text: str = text) -> float | None:
                    nonlocal pos
                    deadline = time.perf_counter() + 20
                    while time.perf_counter() < deadline:
                        s, p = await poller.request("POST", f"{SSS}?timeout=10000&pos={q(pos)}", FIRST_SCREEN, token)
                        now = time.perf_counter()
                        if s != 200:
                            return None
                        body = json.loads(p)
                        pos = body["pos"]
                        for room in body.get("rooms", {}).values():
                            if any(e.get("content", {}).get("body") == text for e in room.get("timeline", [])):
                                return now
                    return None

                task = asyncio.create_task(poll())
                await asyncio.sleep(0.3)  # the poll is waiting on the server
                t0 = time.perf_counter()
                await send_text(conn, sender, room_id, f"ping-{k}", text)
                arrived = await task
                if arrived is None:
                    fig.incremental_lost += 1
                else:
                    fig.incremental_ms.append((arrived - t0) * 1000)
        finally:
            await poller.close()
    finally:
        await conn.close()
    log(f"{server.label}: first screen {fig.first_screen_rooms} rooms of {fig.first_screen_count}: "
        + ", ".join(f"{s:.2f}s" for s in fig.first_screen_s) + "; initial /sync: "
        + ", ".join(f"{s:.2f}s" for s in fig.initial_sync_s) + "; incremental p50 "
        + f"{percentile(sorted(fig.incremental_ms), 50):.0f} ms")


def bench_server(label: str, args: argparse.Namespace) -> tuple[Figures, str]:
    fig = Figures(notes=busy_notes(label))
    with serving(label, f"sss-{label}", "sqlite", OUR_EXTRA, SYNAPSE_EXTRA) as server:
        asyncio.run(bench(server, args, fig))
    return fig, server.version


ROWS = [
    ("first screen (20 rooms)", "s", lambda f: median(f.first_screen_s)),
    ("first screen server CPU", "s", lambda f: median(f.first_screen_cpu_s)),
    ("full initial /sync", "s", lambda f: median(f.initial_sync_s)),
    ("full initial /sync server CPU", "s", lambda f: median(f.initial_sync_cpu_s)),
    ("incremental p50", "ms", lambda f: percentile(sorted(f.incremental_ms), 50)),
]


def print_report(results: dict[str, Figures], versions: dict[str, str], args: argparse.Namespace) -> None:
    print_header(86, versions)
    print(f"SQLite; a user in {args.rooms} rooms; median of {args.repeats} (new device each); "
          f"incremental: {args.messages} messages; 127.0.0.1")
    print("-" * 86)
    print(f"{'':34s} {'ours':>14s} {'synapse':>14s}   ratio (>1: ours better)")
    for name, unit, get in ROWS:
        cells = []
        for label in ("ours", "synapse"):
            fig = results.get(label)
            value = get(fig) if fig is not None else None
            cells.append(f"{'-':>14s}" if value is None else f"{value:>14.2f}")
        print(f"{name + ' (' + unit + ')':34s} {' '.join(cells)}   {ratio_cell(results, get, False)}")
    notes = []
    for label, fig in results.items():
        print(f"  {label}: first screen {fig.first_screen_rooms} rooms (count {fig.first_screen_count}), "
              f"{fig.first_screen_bytes / 1024:.0f} KiB; initial /sync {fig.initial_sync_rooms} rooms, "
              f"{fig.initial_sync_bytes / 1024:.0f} KiB; incremental lost {fig.incremental_lost}")
        notes += fig.notes
    print_footer(86, notes, "Ratios are synapse/ours (lower is better), so above 1 means ours is better.")


def main() -> int:
    parser = bench_parser(__doc__, "smoke run: 100 rooms, 5 messages")
    parser.add_argument("--rooms", type=int, help="rooms of the user (default 2000, quick 100)")
    parser.add_argument("--messages", type=int, help="incremental messages timed (default 20, quick 5)")
    parser.add_argument("--repeats", type=int, default=3, help="first screens and initial syncs timed (default 3)")
    args = parser.parse_args()
    fill_defaults(args, quick={"rooms": 100, "messages": 5}, full={"rooms": 2000, "messages": 20})
    pin_load_generator()
    return run_side_by_side(bench_server, args, lambda results, versions: print_report(results, versions, args))


if __name__ == "__main__":
    sys.exit(main())
