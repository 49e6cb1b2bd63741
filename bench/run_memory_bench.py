#!/usr/bin/env python3
"""Hand-run benchmark: peak memory of our homeserver vs Synapse under floods.

For each server in turn (never both at once), on SQLite, everything on 127.0.0.1, with each
server's DEFAULT password hashing (argon2id for ours, bcrypt for Synapse: what a flood of
logins really costs) and rate limits off, one load after the other on the same server:

1. registrations: `--registrations` users by shared-secret registration, 8 at once;
2. login flood: `--concurrency` connections logging in (a new device each time) back to back
   for `--duration` seconds;
3. joins: every user joins one room;
4. sends: every user sends messages into that room for `--duration` seconds;
5. syncs: every user's initial sync at once, then every user long-polls and one message wakes them.

After each load: the server's peak resident memory so far (VmHWM, all threads: it never goes
down, so each figure is the peak up to then) and its current VmRSS.

    .venv/bin/python bench/run_memory_bench.py [--quick] [--only ours|synapse]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass, field

from client import CLIENT, Conn, create_rooms, q, register_many, run_pool, send_text
from common import (
    Server,
    bench_parser,
    busy_notes,
    fill_defaults,
    log,
    login_body,
    pin_load_generator,
    print_footer,
    print_header,
    registration_secret,
    run_side_by_side,
    serving,
)
from run_sync_bench import sync_path

PHASES = ["start", "registrations", "login flood", "joins", "sends", "syncs"]


def status_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) in MiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(line.split()[1]) / 1024
    return values.get("VmHWM", 0.0), values.get("VmRSS", 0.0)


@dataclass
class Figures:
    memory: dict[str, tuple[float, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def bench(server: Server, args: argparse.Namespace, fig: Figures) -> None:
    port, label = server.port, server.label

    def measure(phase: str) -> None:
        fig.memory[phase] = status_mb(server.proc.pid)
        log(f"{label}: after {phase}: peak {fig.memory[phase][0]:.0f} MiB, now {fig.memory[phase][1]:.0f} MiB"
            + (f" ({fig.counts[phase]})" if phase in fig.counts else ""))

    measure("start")
    secret = registration_secret(server)
    names = [f"m{i}" for i in range(args.registrations)]
    # 8 at once: Synapse's bcrypt (cost 12) behind 32 would pass the client's 60 s timeout.
    tokens = await register_many(port, secret, names, min(8, args.concurrency))
    fig.counts["registrations"] = len(tokens)
    measure("registrations")

    stop = time.perf_counter() + args.duration
    logins = 0

    async def login_loop(i: int) -> None:
        nonlocal logins
        c = Conn(port)
        try:
            while time.perf_counter() < stop:
                try:
                    status, _ = await c.request("POST", f"{CLIENT}/login", login_body(names[i % len(names)]))
                except Exception:
                    continue
                logins += status == 200
        finally:
            await c.close()

    await asyncio.gather(*(login_loop(i) for i in range(args.concurrency)))
    fig.counts["login flood"] = logins
    measure("login flood")

    (room,) = await create_rooms(port, tokens[0], ["memory room"])

    async def join(c: Conn, token: str) -> None:
        await c.json("POST", f"{CLIENT}/join/{q(room)}", {}, token)

    await run_pool(port, [lambda c, t=t: join(c, t) for t in tokens[1:]], 8)
    fig.counts["joins"] = len(tokens) - 1
    measure("joins")

    stop = time.perf_counter() + args.duration
    sent = 0

    async def send_loop(i: int) -> None:
        nonlocal sent
        c = Conn(port)
        k = 0
        try:
            while time.perf_counter() < stop:
                try:
                    status = await send_text(c, tokens[i], room, f"m{i}-{k}", f"message {k}")
                except Exception:
                    status = 0
                if status == 200:
                    sent += 1
                k += 1
        finally:
            await c.close()

    await asyncio.gather(*(send_loop(i) for i in range(min(len(tokens), args.concurrency))))
    fig.counts["sends"] = sent
    measure("sends")

    conns = [Conn(port) for _ in tokens]
    try:
        async def first(i: int) -> str:
            return json.loads((await conns[i].request("GET", sync_path(None), None, tokens[i]))[1])["next_batch"]

        sinces = await asyncio.gather(*(first(i) for i in range(len(tokens))))
        waits = [asyncio.create_task(conns[i].request("GET", sync_path(sinces[i]), None, tokens[i]))
                 for i in range(len(tokens))]
        await asyncio.sleep(2 + len(tokens) / 500)
        c = Conn(port)
        try:
            await send_text(c, tokens[0], room, "wake", "wake up")
        finally:
            await c.close()
        done = await asyncio.gather(*waits, return_exceptions=True)
        fig.counts["syncs"] = sum(1 for d in done if not isinstance(d, BaseException) and d[0] == 200)
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    measure("syncs")


def bench_server(label: str, args: argparse.Namespace) -> tuple[Figures, str]:
    fig = Figures(notes=busy_notes(label))
    # Default password hashing on both (no cheap-hash extras): the login flood is the point.
    with serving(label, f"memory-{label}", "sqlite") as server:
        asyncio.run(bench(server, args, fig))
    return fig, server.version


def print_report(results: dict[str, Figures], versions: dict[str, str], args: argparse.Namespace) -> None:
    print_header(86, versions)
    print(f"SQLite, default password hashing; {args.registrations} users, {args.concurrency} at once, "
          f"floods of {args.duration:.0f} s; 127.0.0.1")
    print("-" * 86)
    print(f"{'peak RSS (VmHWM) after':28s} {'ours MiB':>10s} {'synapse MiB':>12s}   ours/synapse   counts (ours / synapse)")
    for phase in PHASES:
        cells, values = [], {}
        for label in ("ours", "synapse"):
            fig = results.get(label)
            value = fig.memory.get(phase, (0.0, 0.0))[0] if fig else 0.0
            values[label] = value
            cells.append(f"{value:>10.0f}" if label == "ours" else f"{value:>12.0f}")
        r = f"{values['ours'] / values['synapse']:.2f}" if values["ours"] and values["synapse"] else "-"
        counts = " / ".join(str(results[label].counts.get(phase, "-")) for label in ("ours", "synapse")
                            if label in results)
        print(f"{phase:28s} {' '.join(cells)}   {r:>12s}   {counts}")
    notes = []
    for label, fig in results.items():
        print(f"  {label}: RSS now after each: " + ", ".join(f"{p} {m[1]:.0f}" for p, m in fig.memory.items()))
        notes += fig.notes
    print_footer(86, notes, "Lower is better; ours/synapse below 1 means ours takes less memory.")


def main() -> int:
    parser = bench_parser(__doc__, "smoke run: 20 users, 5-second floods")
    parser.add_argument("--registrations", type=int, help="users registered (default 200, quick 20)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients in each flood (default 32)")
    parser.add_argument("--duration", type=float, help="seconds of the login flood and of sending (default 15, quick 5)")
    args = parser.parse_args()
    fill_defaults(args, quick={"registrations": 20, "duration": 5}, full={"registrations": 200, "duration": 15})
    pin_load_generator()
    return run_side_by_side(bench_server, args, lambda results, versions: print_report(results, versions, args))


if __name__ == "__main__":
    sys.exit(main())
