#!/usr/bin/env python3
"""Hand-run benchmark: our homeserver vs Synapse, one message waking many long-polling /syncs.

For each server in turn (never both at once), on SQLite, everything on 127.0.0.1: register
the largest number of waiters (default 2,000) plus one sender; for each size (default 200 and
2,000) a room that that many waiters join; every waiter does a first sync, then long-polls
/sync (timeout 30 s, members lazy-loaded) on its own connection; once all are waiting, the sender sends one message.
Reported per size: the time from the send until the last waiter's /sync has answered with the
message (median of the rounds), the server's CPU for that round (utime + stime of its process
group), and the server's peak resident memory (VmHWM) at the end.

    .venv/bin/python bench/run_fanout_bench.py [--sizes 200,2000] [--rounds 3] [--only ours|synapse]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import common
from client import Conn, create_rooms, register_many, send_text
from common import (
    OUR_EXTRA,
    SYNAPSE_EXTRA,
    Server,
    bench_parser,
    busy_notes,
    log,
    pin_load_generator,
    print_footer,
    print_header,
    process_group_cpu_seconds,
    registration_secret,
    run_side_by_side,
    serving,
)
from run_sync_bench import bodies_in, join_all, sync_path

# As clients do (Element, matrix-js-sdk): lazy-loaded members, so that the first sync of a member
# of a 2,000-member room is not 2,000 member events (setup, not measured, but slow on both servers).
SYNC_FILTER = json.dumps({"room": {"state": {"lazy_load_members": True}, "timeline": {"limit": 10}}},
                         separators=(",", ":"))


def proc_status_mb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class SizeFigures:
    wake_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    missing: int = 0


@dataclass
class Figures:
    sizes: dict[int, SizeFigures] = field(default_factory=dict)
    hwm_mb: float = 0.0
    notes: list[str] = field(default_factory=list)


async def fanout(server: Server, sender: str, waiters: list[str], args: argparse.Namespace, fig: SizeFigures) -> None:
    port = server.port
    (room,) = await create_rooms(port, sender, [f"fan-out room {len(waiters)}"])
    await join_all(port, [(w, room) for w in waiters], 8)
    conns = [Conn(port) for _ in waiters]
    sinces: list[str] = [""] * len(waiters)

    async def first_sync(i: int) -> None:
        sinces[i] = json.loads((await conns[i].request("GET", sync_path(None, flt=SYNC_FILTER), None, waiters[i]))[1])["next_batch"]

    try:
        for i in range(0, len(waiters), 20):
            await asyncio.gather(*(first_sync(j) for j in range(i, min(i + 20, len(waiters)))))
        for r in range(args.rounds):
            text = f"wake up {len(waiters)} {r}"
            done_at: list[float | None] = [None] * len(waiters)

            async def wait_for_it(i: int, text: str = text, done_at: list = done_at) -> None:
                deadline = time.perf_counter() + 90
                while time.perf_counter() < deadline:
                    try:
                        status, payload = await conns[i].request("GET", sync_path(sinces[i], flt=SYNC_FILTER), None, waiters[i])
                    except Exception:
                        continue
                    if status != 200:
                        await asyncio.sleep(0.1)
                        continue
                    body = json.loads(payload)
                    sinces[i] = body["next_batch"]
                    if text in bodies_in(body, room):
                        done_at[i] = time.perf_counter()
                        return

            tasks = [asyncio.create_task(wait_for_it(i)) for i in range(len(waiters))]
            await asyncio.sleep(args.settle + len(waiters) / 1000)  # every sync is waiting on the server
            profiling = args.profile and server.label == "ours" and r == args.rounds - 1
            if profiling:
                os.kill(server.proc.pid, signal.SIGUSR1)
            c = Conn(port)
            try:
                cpu0, t0 = process_group_cpu_seconds(server.proc.pid), time.perf_counter()
                await send_text(c, sender, room, f"fan-{len(waiters)}-{r}", text)
            finally:
                await c.close()
            await asyncio.gather(*tasks, return_exceptions=True)
            if profiling:
                os.kill(server.proc.pid, signal.SIGUSR2)
            fig.cpu_s.append(process_group_cpu_seconds(server.proc.pid) - cpu0)
            missing = sum(d is None for d in done_at)
            fig.missing += missing
            if missing < len(waiters):
                fig.wake_s.append(max(d for d in done_at if d is not None) - t0)
            log(f"{server.label}: {len(waiters)} waiters round {r}: "
                f"{fig.wake_s[-1] * 1000 if fig.wake_s else 0:.0f} ms, CPU {fig.cpu_s[-1] * 1000:.0f} ms, "
                f"{missing} never woke")
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


async def bench(server: Server, args: argparse.Namespace, fig: Figures) -> None:
    secret = registration_secret(server)
    biggest = max(args.sizes)
    t = time.perf_counter()
    sender, *users = await register_many(server.port, secret, ["fan_sender"] + [f"w{i}" for i in range(biggest)], 16)
    log(f"{server.label}: {biggest + 1} users registered in {time.perf_counter() - t:.0f}s")
    for size in args.sizes:
        fig.sizes[size] = SizeFigures()
        await fanout(server, sender, users[:size], args, fig.sizes[size])
    fig.hwm_mb = proc_status_mb(server.proc.pid, "VmHWM")
    log(f"{server.label}: peak RSS {fig.hwm_mb:.0f} MiB")


def bench_server(label: str, args: argparse.Namespace) -> tuple[Figures, str]:
    fig = Figures(notes=busy_notes(label))
    with serving(label, f"fanout-{label}", "sqlite", OUR_EXTRA, SYNAPSE_EXTRA) as server:
        asyncio.run(bench(server, args, fig))
    return fig, server.version


def bench_before(args: argparse.Namespace) -> tuple[Figures, str]:
    """Ours from another checkout (`--before DIR`, e.g. a `git worktree` of an older commit)."""
    fig = Figures(notes=busy_notes("before"))
    repo = common.REPO_DIR
    common.REPO_DIR = Path(args.before).resolve()
    try:
        with serving("ours", "fanout-before", "sqlite", OUR_EXTRA, SYNAPSE_EXTRA) as server:
            server.label = "before"
            asyncio.run(bench(server, args, fig))
    finally:
        common.REPO_DIR = repo
    return fig, server.version


def bench_all(label: str, args: argparse.Namespace) -> tuple[Figures, str]:
    if label == "ours" and args.before and args.only != "ours":
        # The older checkout runs first, in the same run as ours and Synapse.
        BEFORE_RESULT[:] = [bench_before(args)]
    return bench_server(label, args)


BEFORE_RESULT: list = []


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def print_report(results: dict[str, Figures], versions: dict[str, str], args: argparse.Namespace) -> None:
    if BEFORE_RESULT:
        results = {"before": BEFORE_RESULT[0][0], **results}
        versions = {"before": BEFORE_RESULT[0][1], **versions}
    print_header(86, versions)
    print(f"SQLite; one message wakes N long-polling syncs in one room (median of {args.rounds}); 127.0.0.1")
    print("-" * 86)
    labels = [label for label in ("before", "ours", "synapse") if label in results]
    print(f"{'':32s} " + " ".join(f"{label:>12s}" for label in labels)
          + "   synapse/ours" + ("  synapse/before" if "before" in labels else ""))

    def row(name: str, get) -> None:
        values = {label: get(results[label]) for label in labels}
        cells = [f"{v:>12.1f}" for v in values.values()]
        ratios = []
        for mine in ("ours", "before"):
            if mine in values:
                ok = values.get(mine) and values.get("synapse")
                ratios.append(f"{values['synapse'] / values[mine]:.2f}x" if ok else "-")
        print(f"{name:32s} {' '.join(cells)}   " + "  ".join(f"{r:>13s}" for r in ratios))

    for size in args.sizes:
        row(f"{size} woken, all answered (ms)", lambda f, s=size: median(f.sizes[s].wake_s) * 1000 if s in f.sizes else 0)
        row(f"{size} woken, server CPU (ms)", lambda f, s=size: median(f.sizes[s].cpu_s) * 1000 if s in f.sizes else 0)
    row("peak RSS, VmHWM (MiB)", lambda f: f.hwm_mb)
    notes = []
    for label, fig in results.items():
        for size, s in fig.sizes.items():
            print(f"  {label} {size}: runs " + ", ".join(f"{x * 1000:.0f}" for x in s.wake_s) + " ms; CPU "
                  + ", ".join(f"{x * 1000:.0f}" for x in s.cpu_s) + f" ms; {s.missing} never woke")
        notes += fig.notes
    print_footer(86, notes, "All figures are lower-is-better; above 1 means ours is better.")


def main() -> int:
    parser = bench_parser(__doc__, "smoke run: 20 and 50 waiters, 2 rounds")
    parser.add_argument("--sizes", default=None, help="comma-separated numbers of waiters (default 200,2000)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per size (default 3)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds for the waiters to start waiting")
    parser.add_argument("--before", metavar="DIR",
                        help="also bench ours from this checkout (an older commit), first, in the same run")
    parser.add_argument("--profile", metavar="DIR",
                        help="profile ours (cProfile) during each size's last round; stats to DIR/fanout-1.prof, -2, ...")
    args = parser.parse_args()
    if args.profile:
        # Ours runs under bench/profile_server.py, which profiles between SIGUSR1 and SIGUSR2.
        wrapper = Path(args.profile).resolve() / "python-profiled"
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(f"#!/bin/sh\nexec {common.OUR_PYTHON} {common.BENCH_DIR / 'profile_server.py'} \"$@\"\n")
        wrapper.chmod(0o755)
        common.OUR_PYTHON = wrapper
        os.environ["BENCH_PROFILE_OUT"] = str(wrapper.parent / "fanout")
    if args.sizes is None:
        args.sizes = "20,50" if args.quick else "200,2000"
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.rounds is None:
        args.rounds = 2 if args.quick else 3
    pin_load_generator()
    return run_side_by_side(bench_all, args, lambda results, versions: print_report(results, versions, args))


if __name__ == "__main__":
    sys.exit(main())
