#!/usr/bin/env python3
"""Hand-run benchmark: our homeserver vs Synapse, sending, /messages and joins.

For each database engine (SQLite, PostgreSQL) and each server in turn: set up users and
rooms, then measure sending m.room.message events, paging back through a room with
/messages, and users joining one room. Everything on 127.0.0.1. See bench/README.md.

    .venv/bin/python bench/run_send_bench.py [--quick] [--only ours|synapse] [--engine sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field

from client import CLIENT, Conn, create_rooms, join, q, register_many, rooms_everyone_joins, run_pool
from common import (
    OUR_EXTRA,
    SYNAPSE_EXTRA,
    Server,
    bench_parser,
    busy_notes,
    chosen_engines,
    clamp,
    fill_defaults,
    log,
    per_second,
    percentile,
    pin_load_generator,
    postgres_cpu_seconds,
    print_footer,
    print_header,
    process_group_cpu_seconds,
    ratio_cell,
    registration_secret,
    run_side_by_side,
    serving,
)

# --------------------------------------------------------------------------
# measurements


@dataclass
class Figures:
    engine: str = ""
    # send
    events: int = 0  # 200 answers within the duration
    send_errors: int = 0
    send_seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_per_event_ms: float = 0.0  # server CPU milliseconds per accepted event
    client_cpu: float = 0.0  # load generator CPU, in cores, during the send phase
    server_cpu: float = 0.0  # server CPU, in cores, during the send phase
    db_cpu_per_event_ms: float = 0.0  # PostgreSQL CPU milliseconds per accepted event
    # /messages
    pages: int = 0
    page_events: int = 0
    walks: int = 0
    history: int = 0  # events in one full walk
    messages_errors: int = 0
    messages_seconds: float = 0.0
    # joins
    joins: int = 0
    join_errors: int = 0
    join_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return per_second(self.events, self.send_seconds)

    @property
    def pages_per_s(self) -> float:
        return per_second(self.pages, self.messages_seconds)

    @property
    def page_events_per_s(self) -> float:
        return per_second(self.page_events, self.messages_seconds)

    @property
    def joins_per_s(self) -> float:
        return per_second(self.joins, self.join_seconds)


async def send_phase(
    server: Server, tokens: list[str], rooms: list[str], seconds: float, concurrency: int, tag: str, fig: Figures
) -> None:
    """`concurrency` senders (sender i is user i mod len(tokens)), each on its own connection."""
    latencies: list[float] = []
    counted = {"ok": 0, "errors": 0}
    tail = {"ok": 0}

    async def sender(i: int, t_end: float, record: bool) -> None:
        conn = Conn(server.port)
        token = tokens[i % len(tokens)]
        k = 0
        try:
            while time.perf_counter() < t_end:
                room = rooms[(i + k) % len(rooms)]
                path = f"{CLIENT}/rooms/{q(room)}/send/m.room.message/{tag}-{i}-{k}"
                body = {"msgtype": "m.text", "body": f"message {k} from sender {i}"}
                k += 1
                t0 = time.perf_counter()
                try:
                    status, _ = await conn.request("PUT", path, body, token)
                except Exception:
                    status = 0
                t1 = time.perf_counter()
                if not record:
                    continue
                if t1 > t_end:  # finished after the end: costs CPU, not counted in the rate
                    tail["ok"] += status == 200
                elif status == 200:
                    counted["ok"] += 1
                    latencies.append(t1 - t0)
                else:
                    counted["errors"] += 1
        finally:
            await conn.close()

    pgid = server.proc.pid
    db0 = postgres_cpu_seconds()
    cpu0, rusage0, t0 = process_group_cpu_seconds(pgid), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    t_end = t0 + seconds
    await asyncio.gather(*(sender(i, t_end, True) for i in range(concurrency)))
    t1, rusage1, cpu1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF), process_group_cpu_seconds(pgid)
    db1 = postgres_cpu_seconds()
    latencies.sort()
    fig.events, fig.send_errors, fig.send_seconds = counted["ok"], counted["errors"], seconds
    fig.p50_ms, fig.p99_ms = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    accepted = counted["ok"] + tail["ok"]
    fig.cpu_per_event_ms = (cpu1 - cpu0) / accepted * 1000 if accepted else 0.0
    fig.db_cpu_per_event_ms = (db1 - db0) / accepted * 1000 if accepted else 0.0
    client = (rusage1.ru_utime - rusage0.ru_utime) + (rusage1.ru_stime - rusage0.ru_stime)
    fig.client_cpu = client / (t1 - t0)
    fig.server_cpu = (cpu1 - cpu0) / (t1 - t0)


async def warm_up(server: Server, tokens: list[str], rooms: list[str], seconds: float, concurrency: int) -> None:
    if seconds > 0:
        await send_phase(server, tokens, rooms, seconds, concurrency, "warm", Figures())


async def messages_phase(server: Server, token: str, room: str, seconds: float, fig: Figures) -> None:
    """Page back through the whole of `room` (limit 50), walk after walk, until `seconds` passed."""
    conn = Conn(server.port)
    base = f"{CLIENT}/rooms/{q(room)}/messages?dir=b&limit=50"
    t0 = time.perf_counter()
    try:
        while True:
            token_from: str | None = None
            walk_events = 0
            for _ in range(100_000):  # bounded: a full walk ends long before
                path = base + (f"&from={q(token_from)}" if token_from else "")
                try:
                    status, payload = await conn.request("GET", path, None, token)
                except Exception:
                    status, payload = 0, b""
                if status != 200:
                    fig.messages_errors += 1
                    break
                page = json.loads(payload)
                chunk = page.get("chunk", [])
                fig.pages += 1
                fig.page_events += len(chunk)
                walk_events += len(chunk)
                token_from = page.get("end")
                if not chunk or not token_from:
                    break
            fig.walks += 1
            fig.history = walk_events
            if time.perf_counter() - t0 >= seconds or fig.messages_errors > 10:
                break
    finally:
        await conn.close()
    fig.messages_seconds = time.perf_counter() - t0


# --------------------------------------------------------------------------
# one server on one engine, start to finish


async def bench(server: Server, args: argparse.Namespace, fig: Figures) -> None:
    secret = registration_secret(server)
    label, port = server.label, server.port

    # 1. setup: users, rooms, everyone joins every room
    t = time.perf_counter()
    tokens = await register_many(port, secret, [f"sender{i}" for i in range(args.users)])
    rooms = await rooms_everyone_joins(port, tokens, args.rooms, "bench room", args.concurrency)
    log(f"{label}: setup: {args.users} users, {args.rooms} rooms, {(args.users - 1) * args.rooms} joins "
        f"in {time.perf_counter() - t:.1f}s")

    # 2. send
    log(f"{label}: send: warm-up {args.warmup:.0f}s, then {args.duration:.0f}s with {args.concurrency} senders")
    await warm_up(server, tokens, rooms, args.warmup, args.concurrency)
    await send_phase(server, tokens, rooms, args.duration, args.concurrency, "run", fig)
    log(f"{label}: send: {fig.events} events ({fig.events_per_s:.1f}/s), {fig.send_errors} errors, "
        f"p50 {fig.p50_ms:.1f} ms, p99 {fig.p99_ms:.1f} ms, server {fig.cpu_per_event_ms:.2f} CPU-ms/event, "
        f"server CPU {fig.server_cpu:.2f} cores, load generator CPU {fig.client_cpu:.2f} cores"
        + (f", PostgreSQL {fig.db_cpu_per_event_ms:.2f} CPU-ms/event" if fig.engine == "postgres" else ""))
    if fig.client_cpu > 0.8:
        fig.notes.append(f"{label}: load generator used {fig.client_cpu:.2f} cores: it may be the bottleneck")
        log("WARNING: " + fig.notes[-1])
    if fig.send_errors:
        fig.notes.append(f"{label}: {fig.send_errors} send errors")

    # 3. /messages through room 0
    await messages_phase(server, tokens[0], rooms[0], args.messages_duration, fig)
    log(f"{label}: /messages: {fig.walks} walks of {fig.history} events, {fig.pages} pages "
        f"({fig.pages_per_s:.1f}/s, {fig.page_events_per_s:.0f} events/s), {fig.messages_errors} errors")
    if fig.messages_errors:
        fig.notes.append(f"{label}: {fig.messages_errors} /messages errors")

    # 4. joins: N more users join one new room
    t = time.perf_counter()
    joiners = await register_many(port, secret, [f"joiner{i}" for i in range(args.join_users)])
    (room,) = await create_rooms(port, tokens[0], ["bench join room"])
    log(f"{label}: joins: {len(joiners)} users registered in {time.perf_counter() - t:.1f}s; joining")
    t = time.perf_counter()
    joined = await run_pool(port, [lambda c, tok=tok: join(c, tok, room) for tok in joiners], args.concurrency)
    fig.join_seconds = time.perf_counter() - t
    fig.joins = sum(ok for ok, _ in joined)
    fig.join_errors = len(joined) - fig.joins
    log(f"{label}: joins: {fig.joins} in {fig.join_seconds:.1f}s ({fig.joins_per_s:.1f}/s), "
        f"{fig.join_errors} errors")
    if fig.join_errors:
        fig.notes.append(f"{label}: {fig.join_errors} join errors")


def bench_server(label: str, engine: str, args: argparse.Namespace) -> tuple[Figures, str]:
    fig = Figures(engine=engine, notes=busy_notes(f"{label}/{engine}"))
    with serving(label, f"send-{label}-{engine}", engine, OUR_EXTRA, SYNAPSE_EXTRA) as server:
        asyncio.run(bench(server, args, fig))
    return fig, server.version


# --------------------------------------------------------------------------
# report

ROWS = [
    # (name, unit, getter, higher is better)
    ("send", "events/s", lambda f: f.events_per_s, True),
    ("send p50", "ms", lambda f: f.p50_ms, False),
    ("send p99", "ms", lambda f: f.p99_ms, False),
    ("send CPU", "ms/event", lambda f: f.cpu_per_event_ms, False),
    ("send DB CPU", "ms/event", lambda f: f.db_cpu_per_event_ms, False),
    ("/messages", "pages/s", lambda f: f.pages_per_s, True),
    ("/messages", "events/s", lambda f: f.page_events_per_s, True),
    ("joins", "joins/s", lambda f: f.joins_per_s, True),
]
ERRORS = {"send": "send_errors", "/messages": "messages_errors", "joins": "join_errors"}


def print_report(results: dict, versions: dict[str, str], args: argparse.Namespace) -> None:
    print_header(86, versions)
    print(f"{args.users} users, {args.rooms} rooms, send {args.duration:.0f}s after {args.warmup:.0f}s warm-up "
          f"with {args.concurrency} senders; /messages limit=50 for {args.messages_duration:.0f}s; "
          f"{args.join_users} joins; 127.0.0.1")
    notes = []
    for engine, per_server in results.items():
        print("-" * 86)
        print(f"{engine:24s} {'ours':>14s} {'synapse':>14s}   ratio (>1: ours better)")
        for name, unit, get, higher_better in ROWS:
            if name == "send DB CPU" and engine != "postgres":
                continue
            cells = []
            for label in ("ours", "synapse"):
                fig = per_server.get(label)
                if fig is None:
                    cells.append(f"{'-':>14s}")
                    continue
                value = get(fig)
                cell = f"{value:.1f}" if value >= 10 else f"{value:.2f}"
                if getattr(fig, ERRORS[name.split()[0]]):
                    cell += "!"
                cells.append(f"{cell:>14s}")
            print(f"{name + ' (' + unit + ')':24s} {' '.join(cells)}   {ratio_cell(per_server, get, higher_better)}")
        for label, fig in per_server.items():
            print(f"  {label}: errors send {fig.send_errors}, /messages {fig.messages_errors}, "
                  f"joins {fig.join_errors}; history walked {fig.history} events x {fig.walks}; "
                  f"server CPU while sending {fig.server_cpu:.2f} cores, load generator {fig.client_cpu:.2f} cores")
            notes += fig.notes
    print_footer(86, notes, "Ratios are ours/synapse for rates and synapse/ours for latency and CPU, so above 1 "
                            "means ours is better.\n'!' marks a figure with errors.")


def main() -> int:
    parser = bench_parser(__doc__, "smoke run: short durations, few users", engines=True)
    parser.add_argument("--duration", type=float, help="seconds of sending (default 15, quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of sending before measuring (default 3, quick 1)")
    parser.add_argument("--users", type=int, help="users, each one sender (default 50, quick 10)")
    parser.add_argument("--rooms", type=int, help="rooms every user joins (default 10, quick 3)")
    parser.add_argument("--concurrency", type=int, help="concurrent senders and joiners (default = users)")
    parser.add_argument("--messages-duration", type=float, help="seconds of /messages walks (default 5, quick 1)")
    parser.add_argument("--join-users", type=int, help="users joining the join room (default 500, quick 20)")
    args = parser.parse_args()
    fill_defaults(
        args,
        quick={"duration": 3, "warmup": 1, "users": 10, "rooms": 3, "messages_duration": 1, "join_users": 20},
        full={"duration": 15, "warmup": 3, "users": 50, "rooms": 10, "messages_duration": 5, "join_users": 500},
    )
    args.concurrency = args.concurrency or args.users
    clamp(args, duration=(1, 300), warmup=(0, 60), messages_duration=(0.1, 120), users=(2, 1000), rooms=(1, 100),
          join_users=(1, 5000), concurrency=(1, 1000))

    pin_load_generator()
    return run_side_by_side(bench_server, args, lambda results, versions: print_report(results, versions, args),
                            chosen_engines(args))


if __name__ == "__main__":
    sys.exit(main())
