#!/usr/bin/env python3
"""Hand-run benchmark: our homeserver vs Synapse, /sync.

For each server in turn (never both at once), on SQLite, everything on 127.0.0.1:

1. delivery latency: a receiver long-polls /sync in a room it shares with a sender; the sender
   sends one message at a time and we time send -> the receiver's waiting sync returns it
   (p50, p99), while background users send in other rooms;
2. initial sync of a user in many rooms (default 200);
3. fan-out: many users (default 200) long-poll /sync in one room; one message; the time until
   every one of them has it;
4. the server's resident memory after the run.

Syncs use `set_presence=offline` so that the measured users' own presence does not wake the
others (both servers implement it). See bench/README.md.

    .venv/bin/python bench/run_sync_bench.py [--quick] [--only ours|synapse]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from client import CLIENT, Conn, create_room, create_rooms, q, register_many, run_pool, send_text
from common import (
    OUR_EXTRA,
    SYNAPSE_EXTRA,
    Server,
    bench_parser,
    busy_notes,
    fill_defaults,
    log,
    login_body,
    per_second,
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

SYNC_TIMEOUT_MS = 30_000


@dataclass
class Figures:
    delivery_ms: list[float] = field(default_factory=list)
    delivery_lost: int = 0
    background_events: int = 0
    background_seconds: float = 0.0
    initial_sync_s: list[float] = field(default_factory=list)
    initial_sync_rooms: int = 0
    initial_sync_bytes: int = 0
    initial_sync_cpu_s: list[float] = field(default_factory=list)  # server CPU seconds per initial sync
    fanout_s: list[float] = field(default_factory=list)
    fanout_cpu_s: list[float] = field(default_factory=list)  # server CPU seconds per fan-out round
    fanout_missing: int = 0
    rss_mb: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def p50_ms(self) -> float:
        return percentile(sorted(self.delivery_ms), 50)

    @property
    def p99_ms(self) -> float:
        return percentile(sorted(self.delivery_ms), 99)

    @property
    def initial_s(self) -> float:
        return median(self.initial_sync_s)

    @property
    def fanout(self) -> float:
        return median(self.fanout_s)

    @property
    def initial_cpu(self) -> float:
        return median(self.initial_sync_cpu_s)

    @property
    def fanout_cpu(self) -> float:
        return median(self.fanout_cpu_s)

    @property
    def background_rate(self) -> float:
        return per_second(self.background_events, self.background_seconds)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def sync_path(since: str | None, timeout_ms: int = SYNC_TIMEOUT_MS, flt: str | None = None) -> str:
    path = f"{CLIENT}/sync?set_presence=offline&timeout={timeout_ms if since else 0}"
    if since:
        path += f"&since={q(since)}"
    if flt:
        path += f"&filter={q(flt)}"
    return path


def bodies_in(sync: dict, room_id: str) -> list[str]:
    events = sync.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])
    return [e.get("content", {}).get("body", "") for e in events]


async def join_all(port: int, pairs: list[tuple[str, str]], concurrency: int) -> None:
    async def join(conn: Conn, token: str, room_id: str) -> None:
        await conn.json("POST", f"{CLIENT}/join/{q(room_id)}", {}, token)

    await run_pool(port, [lambda c, p=p: join(c, *p) for p in pairs], concurrency)


# --------------------------------------------------------------------------
# 1. delivery latency under background traffic


async def delivery_phase(server: Server, secret: str, args: argparse.Namespace, fig: Figures) -> None:
    port = server.port
    sender, receiver, *background = await register_many(
        port, secret, ["lat_sender", "lat_receiver"] + [f"bg{i}" for i in range(args.background_users)])
    (room,) = await create_rooms(port, sender, ["latency room"])
    bg_rooms: list[str] = []
    for i in range(0, len(background), 2):  # one room per pair of background users
        bg_rooms += await create_rooms(port, background[i], [f"bg room {i}"])
    await join_all(port, [(receiver, room)] + [(background[i], bg_rooms[i // 2])
                                               for i in range(1, len(background), 2)], 8)

    stop = asyncio.Event()

    async def background_sender(i: int) -> None:
        c = Conn(port)
        k = 0
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    if await send_text(c, background[i], bg_rooms[i // 2], f"bg-{i}-{k}", f"noise {k}") == 200:
                        fig.background_events += 1
                except Exception:
                    pass
                k += 1
                # Each background user sends at most every `interval` seconds.
                await asyncio.sleep(max(0.0, args.background_interval - (time.perf_counter() - t0)))
        finally:
            await c.close()

    arrived: dict[str, float] = {}
    new_arrival = asyncio.Event()

    async def receive() -> None:
        c = Conn(port)
        try:
            since = json.loads((await c.request("GET", sync_path(None), None, receiver))[1])["next_batch"]
            while not stop.is_set():
                status, payload = await c.request("GET", sync_path(since), None, receiver)
                now = time.perf_counter()
                if status != 200:
                    continue
                body = json.loads(payload)
                since = body["next_batch"]
                for text in bodies_in(body, room):
                    arrived.setdefault(text, now)
                new_arrival.set()
        finally:
            await c.close()

    receiver_task = asyncio.create_task(receive())
    bg_tasks = [asyncio.create_task(background_sender(i)) for i in range(len(background))]
    await asyncio.sleep(1.0)  # background traffic under way, the receiver waiting
    t_bg = time.perf_counter()
    conn = Conn(port)
    try:
        for k in range(args.messages):
            text = f"ping {k}"
            await asyncio.sleep(0.02)  # let the receiver's next sync start waiting
            t0 = time.perf_counter()
            if await send_text(conn, sender, room, f"lat-{k}", text) != 200:
                fig.delivery_lost += 1
                continue
            deadline = t0 + 10
            while text not in arrived and time.perf_counter() < deadline:
                new_arrival.clear()
                try:
                    await asyncio.wait_for(new_arrival.wait(), max(0.01, deadline - time.perf_counter()))
                except TimeoutError:
                    break
            if text in arrived:
                fig.delivery_ms.append((arrived[text] - t0) * 1000)
            else:
                fig.delivery_lost += 1
    finally:
        await conn.close()
        fig.background_seconds = time.perf_counter() - t_bg
        stop.set()
        await asyncio.gather(*bg_tasks, return_exceptions=True)
        receiver_task.cancel()
        await asyncio.gather(receiver_task, return_exceptions=True)


# --------------------------------------------------------------------------
# 2. initial sync of a user in many rooms


async def initial_sync_phase(server: Server, secret: str, args: argparse.Namespace, fig: Figures) -> None:
    port = server.port
    (user,) = await register_many(port, secret, ["many_rooms"])
    t = time.perf_counter()

    async def make_room(c: Conn, i: int) -> str:
        room_id = await create_room(c, user, f"room {i}")
        await send_text(c, user, room_id, f"first-{i}", f"hello room {i}")
        return room_id

    await run_pool(port, [lambda c, i=i: make_room(c, i) for i in range(args.rooms)], 4)
    log(f"{server.label}: initial sync: {args.rooms} rooms made in {time.perf_counter() - t:.1f}s")
    conn = Conn(port)
    try:
        for _ in range(args.initial_syncs):
            # A new device each time, as a client signing in would be: Synapse answers a repeated
            # identical sync from a response cache, which would time the cache, not the sync.
            device_token = (await conn.json("POST", f"{CLIENT}/login", login_body("many_rooms")))["access_token"]
            cpu0, t0 = process_group_cpu_seconds(server.proc.pid), time.perf_counter()
            status, payload = await conn.request("GET", sync_path(None), None, device_token)
            fig.initial_sync_s.append(time.perf_counter() - t0)
            fig.initial_sync_cpu_s.append(process_group_cpu_seconds(server.proc.pid) - cpu0)
            if status != 200:
                fig.notes.append(f"{server.label}: initial sync answered {status}")
                continue
            fig.initial_sync_rooms = len(json.loads(payload).get("rooms", {}).get("join", {}))
            fig.initial_sync_bytes = len(payload)
    finally:
        await conn.close()


# --------------------------------------------------------------------------
# 3. one message wakes many waiting syncs in one room


async def fanout_phase(server: Server, secret: str, args: argparse.Namespace, fig: Figures) -> None:
    port = server.port
    sender, *waiters = await register_many(port, secret, ["fan_sender"] + [f"waiter{i}" for i in range(args.waiters)])
    (room,) = await create_rooms(port, sender, ["fan-out room"])
    await join_all(port, [(w, room) for w in waiters], 8)
    conns = [Conn(port) for _ in waiters]
    sinces: list[str] = [""] * len(waiters)

    async def first_sync(i: int) -> None:
        sinces[i] = json.loads((await conns[i].request("GET", sync_path(None), None, waiters[i]))[1])["next_batch"]

    try:
        for i in range(0, len(waiters), 20):  # a few at a time: setup, not measured
            await asyncio.gather(*(first_sync(j) for j in range(i, min(i + 20, len(waiters)))))
        for r in range(args.fanout_rounds):
            text = f"wake up {r}"
            done_at: list[float | None] = [None] * len(waiters)

            async def wait_for_it(i: int, text: str = text, done_at: list = done_at) -> None:
                deadline = time.perf_counter() + 60
                while time.perf_counter() < deadline:
                    status, payload = await conns[i].request("GET", sync_path(sinces[i]), None, waiters[i])
                    if status != 200:
                        continue
                    body = json.loads(payload)
                    sinces[i] = body["next_batch"]
                    if text in bodies_in(body, room):
                        done_at[i] = time.perf_counter()
                        return

            tasks = [asyncio.create_task(wait_for_it(i)) for i in range(len(waiters))]
            await asyncio.sleep(args.settle)  # every sync is waiting on the server
            c = Conn(port)
            try:
                cpu0, t0 = process_group_cpu_seconds(server.proc.pid), time.perf_counter()
                await send_text(c, sender, room, f"fan-{r}", text)
            finally:
                await c.close()
            await asyncio.gather(*tasks, return_exceptions=True)
            fig.fanout_cpu_s.append(process_group_cpu_seconds(server.proc.pid) - cpu0)
            missing = sum(d is None for d in done_at)
            fig.fanout_missing += missing
            if missing < len(waiters):
                fig.fanout_s.append(max(d for d in done_at if d is not None) - t0)
    finally:
        for c in conns:
            await c.close()


# --------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of the server process (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def bench(server: Server, args: argparse.Namespace, fig: Figures) -> None:
    secret = registration_secret(server)
    label = server.label
    if "delivery" in args.phases:
        await delivery_phase(server, secret, args, fig)
        log(f"{label}: delivery: {len(fig.delivery_ms)} messages, p50 {fig.p50_ms:.1f} ms, p99 {fig.p99_ms:.1f} ms, "
            f"{fig.delivery_lost} lost; background {fig.background_rate:.0f} events/s")
    if "initial" in args.phases:
        await initial_sync_phase(server, secret, args, fig)
        log(f"{label}: initial sync of {fig.initial_sync_rooms} rooms ({fig.initial_sync_bytes / 1024:.0f} KiB): "
            + ", ".join(f"{s:.2f}s" for s in fig.initial_sync_s) + "; server CPU "
            + ", ".join(f"{s:.2f}s" for s in fig.initial_sync_cpu_s))
    if "fanout" in args.phases:
        await fanout_phase(server, secret, args, fig)
        log(f"{label}: fan-out to {args.waiters}: " + ", ".join(f"{s * 1000:.0f} ms" for s in fig.fanout_s)
            + "; server CPU " + ", ".join(f"{s * 1000:.0f} ms" for s in fig.fanout_cpu_s)
            + f"; {fig.fanout_missing} never woke")
    fig.rss_mb = rss_mb(server.proc.pid)
    log(f"{label}: RSS {fig.rss_mb:.0f} MiB")


def bench_server(label: str, args: argparse.Namespace) -> tuple[Figures, str]:
    fig = Figures(notes=busy_notes(label))
    with serving(label, f"sync-{label}", "sqlite", OUR_EXTRA, SYNAPSE_EXTRA) as server:
        asyncio.run(bench(server, args, fig))
    return fig, server.version


ROWS = [
    # (name, unit, getter, higher is better)
    ("delivery p50", "ms", lambda f: f.p50_ms, False),
    ("delivery p99", "ms", lambda f: f.p99_ms, False),
    ("initial sync", "s", lambda f: f.initial_s, False),
    ("initial sync server CPU", "s", lambda f: f.initial_cpu, False),
    ("fan-out, all woken", "ms", lambda f: f.fanout * 1000, False),
    ("fan-out server CPU", "ms", lambda f: f.fanout_cpu * 1000, False),
    ("RSS after run", "MiB", lambda f: f.rss_mb, False),
]


def print_report(results: dict[str, Figures], versions: dict[str, str], args: argparse.Namespace) -> None:
    print_header(86, versions)
    print(f"SQLite; delivery: {args.messages} messages with {args.background_users} background senders "
          f"(one message each per {args.background_interval * 1000:.0f} ms at most); initial sync of a user in "
          f"{args.rooms} rooms (median of {args.initial_syncs}); fan-out: {args.waiters} waiting syncs in one room "
          f"(median of {args.fanout_rounds}); 127.0.0.1")
    print("-" * 86)
    print(f"{'':32s} {'ours':>14s} {'synapse':>14s}   ratio (>1: ours better)")
    for name, unit, get, higher_better in ROWS:
        cells = []
        for label in ("ours", "synapse"):
            fig = results.get(label)
            if fig is None:
                cells.append(f"{'-':>14s}")
                continue
            value = get(fig)
            cells.append(f"{value:>14.1f}" if value >= 10 else f"{value:>14.2f}")
        print(f"{name + ' (' + unit + ')':32s} {' '.join(cells)}   {ratio_cell(results, get, higher_better)}")
    notes = []
    for label, fig in results.items():
        print(f"  {label}: delivery lost {fig.delivery_lost}, background {fig.background_rate:.0f} events/s; "
              f"initial sync {fig.initial_sync_rooms} rooms, {fig.initial_sync_bytes / 1024:.0f} KiB, runs "
              + ", ".join(f"{s:.2f}s" for s in fig.initial_sync_s)
              + "; fan-out runs " + ", ".join(f"{s * 1000:.0f} ms" for s in fig.fanout_s)
              + f", {fig.fanout_missing} never woke")
        notes += fig.notes
    print_footer(86, notes, "Ratios are synapse/ours (all figures are lower-is-better), "
                            "so above 1 means ours is better.")


def main() -> int:
    parser = bench_parser(__doc__, "smoke run: fewer messages, rooms and waiters")
    parser.add_argument("--messages", type=int, help="messages timed for delivery latency (default 300, quick 30)")
    parser.add_argument("--background-users", type=int, help="users sending in other rooms (default 10, quick 4)")
    parser.add_argument("--background-interval", type=float, default=0.1,
                        help="seconds between one background user's messages (default 0.1)")
    parser.add_argument("--rooms", type=int, help="rooms of the initial-sync user (default 200, quick 20)")
    parser.add_argument("--initial-syncs", type=int, default=3, help="initial syncs timed (default 3)")
    parser.add_argument("--waiters", type=int, help="waiting syncs in the fan-out room (default 200, quick 20)")
    parser.add_argument("--fanout-rounds", type=int, default=3, help="fan-out rounds (default 3)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds the waiters get to start waiting before the message (default 2)")
    parser.add_argument("--phases", default="delivery,initial,fanout",
                        help="comma-separated phases to run (default delivery,initial,fanout)")
    args = parser.parse_args()
    fill_defaults(args, quick={"messages": 30, "background_users": 4, "rooms": 20, "waiters": 20},
                  full={"messages": 300, "background_users": 10, "rooms": 200, "waiters": 200})

    pin_load_generator()
    return run_side_by_side(bench_server, args, lambda results, versions: print_report(results, versions, args))


if __name__ == "__main__":
    sys.exit(main())
