#!/usr/bin/env python3
"""Hand-run benchmark: our homeserver vs Synapse, server-side search (POST /search).

For each database engine (SQLite, PostgreSQL) and each server in turn: register senders, create
rooms everyone joins, send N messages through the client API (many concurrent senders over many
rooms, so the setup stays short), then measure POST /search latency (p50/p99) for a few terms of
different selectivity, ordered by rank and by recency, and the user directory on the same users.
Everything on 127.0.0.1.

Messages are made of pseudo-words of six letters (none is a prefix of another, so the servers'
different prefix rules do not change what matches), drawn with a Zipf-like distribution: the
"common" term is in about a third of the messages, "medium" in ~1%, "rare" in ~0.03%.

    .venv/bin/python bench/run_search_bench.py [--messages 100000] [--only ours|synapse]
        [--engine sqlite|postgres] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import sys
import time
from dataclasses import dataclass, field

import yaml
from common import (
    SERVER_CPU,
    WRK_CPU,
    Server,
    cpu_busy,
    cpu_model,
    create_pg_database,
    drop_pg_database,
    log,
    pg_database_config,
    start_ours,
    start_synapse,
    stop_all,
)
from run_send_bench import (
    CLIENT,
    OUR_EXTRA,
    SYNAPSE_EXTRA,
    Conn,
    create_room,
    join,
    percentile,
    q,
    register_many,
    run_pool,
)

SYLLABLES = ["ba", "ke", "lo", "mi", "nu", "po", "ra", "si", "tu", "ve", "zo", "da", "fe", "gi", "ho", "ju"]
VOCABULARY_SIZE = 4000
WORDS_PER_MESSAGE = 8
SEED = 1234


def vocabulary() -> list[str]:
    """VOCABULARY_SIZE distinct six-letter words (three syllables), in a fixed order."""
    words = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES]
    random.Random(SEED).shuffle(words)
    return words[:VOCABULARY_SIZE]


WORDS = vocabulary()
# Zipf-like weights: word k is drawn with weight 1/(k+1).
WEIGHTS = [1 / (k + 1) for k in range(VOCABULARY_SIZE)]
TERMS = {"common": WORDS[0], "medium": WORDS[60], "rare": WORDS[2500], "two words": f"{WORDS[3]} {WORDS[40]}"}


def message_bodies(n: int) -> list[str]:
    rng = random.Random(SEED)
    return [" ".join(rng.choices(WORDS, WEIGHTS, k=WORDS_PER_MESSAGE)) for _ in range(n)]


@dataclass
class Figures:
    engine: str = ""
    sent: int = 0
    send_seconds: float = 0.0
    send_errors: int = 0
    # (term label, order) -> sorted latencies in seconds
    latencies: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    search_errors: int = 0
    directory: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# setup


async def send_messages(server: Server, tokens: list[str], rooms: list[str], bodies: list[str],
                        concurrency: int, fig: Figures) -> None:
    """Every body once, spread over the rooms and senders, `concurrency` requests in flight."""
    counter = iter(range(len(bodies)))
    errors = {"n": 0}
    progress = {"n": 0, "t": time.perf_counter()}

    async def sender(worker: int) -> None:
        conn = Conn(server.port)
        try:
            for i in counter:
                token = tokens[i % len(tokens)]
                room = rooms[(i // len(tokens) + worker) % len(rooms)]
                path = f"{CLIENT}/rooms/{q(room)}/send/m.room.message/s{i}"
                for _ in range(3):  # a transport hiccup under load is retried with the same txn ID
                    try:
                        status, _ = await conn.request("PUT", path, {"msgtype": "m.text", "body": bodies[i]}, token)
                    except Exception:
                        status = 0
                    if status == 200:
                        break
                else:
                    errors["n"] += 1
                progress["n"] += 1
                if progress["n"] % 10000 == 0:
                    rate = progress["n"] / (time.perf_counter() - progress["t"])
                    log(f"{server.label}: sent {progress['n']} messages ({rate:.0f}/s)")
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(sender(w) for w in range(concurrency)))
    fig.send_seconds = time.perf_counter() - t0
    fig.send_errors = errors["n"]
    fig.sent = len(bodies) - errors["n"]


# --------------------------------------------------------------------------
# measurements


async def search_once(conn: Conn, token: str, term: str, order: str) -> tuple[int, float, int]:
    body = {"search_categories": {"room_events": {"search_term": term, "order_by": order,
                                                  "filter": {"limit": 10}}}}
    t0 = time.perf_counter()
    try:
        status, payload = await conn.request("POST", f"{CLIENT}/search", body, token)
    except Exception:
        return 0, time.perf_counter() - t0, 0
    elapsed = time.perf_counter() - t0
    count = 0
    if status == 200:
        events = json.loads(payload)["search_categories"]["room_events"]
        count = events.get("count") or len(events.get("results", []))
    return status, elapsed, count


async def search_phase(server: Server, token: str, repeats: int, fig: Figures) -> None:
    conn = Conn(server.port)
    try:
        for label, term in TERMS.items():
            for order in ("rank", "recent"):
                await search_once(conn, token, term, order)  # warm caches: not counted
                samples = []
                for _ in range(repeats):
                    status, elapsed, count = await search_once(conn, token, term, order)
                    if status != 200:
                        fig.search_errors += 1
                        continue
                    samples.append(elapsed)
                    fig.counts[(label, order)] = count
                fig.latencies[(label, order)] = sorted(samples)
                lat = fig.latencies[(label, order)]
                log(f"{server.label}: search {label!r} ({term}) by {order}: count {fig.counts.get((label, order))}, "
                    f"p50 {percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms")
        samples = []
        for i in range(repeats):
            t0 = time.perf_counter()
            status, _ = await conn.request("POST", f"{CLIENT}/user_directory/search",
                                           {"search_term": f"sender{i % 10}", "limit": 10}, token)
            if status == 200:
                samples.append(time.perf_counter() - t0)
            else:
                fig.search_errors += 1
        fig.directory = sorted(samples)
    finally:
        await conn.close()


# --------------------------------------------------------------------------
# one server on one engine


_databases: list[str] = []


def start(label: str, engine: str, run_id: str) -> tuple[Server, str | None]:
    database, dbname = None, None
    if engine == "postgres":
        dbname = f"bench_search_{label}_{run_id}"
        create_pg_database(dbname)
        _databases.append(dbname)
        database = pg_database_config(dbname)
    workdir = f"search-{label}" + ("" if engine == "sqlite" else "-postgres")
    if label == "synapse":
        return start_synapse(workdir, database, SYNAPSE_EXTRA), dbname
    return start_ours(workdir, database, OUR_EXTRA), dbname


async def bench(server: Server, args: argparse.Namespace, fig: Figures) -> None:
    config = yaml.safe_load((server.workdir / "homeserver.yaml").read_text())
    secret = config.get("registration_shared_secret")
    if not secret:
        raise RuntimeError(f"{server.label}: no registration_shared_secret in its config")
    label, port = server.label, server.port
    t = time.perf_counter()
    tokens = await register_many(port, secret, [f"sender{i}" for i in range(args.users)])
    conn = Conn(port)
    try:
        rooms = [await create_room(conn, tokens[0], f"search room {r}") for r in range(args.rooms)]
    finally:
        await conn.close()
    pairs = [(tok, room) for tok in tokens[1:] for room in rooms]
    joined = await run_pool(port, [lambda c, p=p: join(c, *p) for p in pairs], args.concurrency)
    if not all(ok for ok, _ in joined):
        raise RuntimeError(f"{label}: some setup joins failed")
    log(f"{label}: setup: {args.users} users, {args.rooms} rooms in {time.perf_counter() - t:.1f}s; "
        f"sending {args.messages} messages with {args.concurrency} senders")
    await send_messages(server, tokens, rooms, message_bodies(args.messages), args.concurrency, fig)
    log(f"{label}: sent {fig.sent} messages in {fig.send_seconds:.0f}s ({fig.sent / fig.send_seconds:.0f}/s), "
        f"{fig.send_errors} errors")
    if fig.send_errors:
        fig.notes.append(f"{label}: {fig.send_errors} messages not sent")
    await search_phase(server, tokens[0], args.repeats, fig)


def bench_server(label: str, engine: str, args: argparse.Namespace, run_id: str) -> tuple[Figures, str]:
    busy = cpu_busy()
    log(f"{label}/{engine}: CPU busy before start: {busy:.0%}")
    fig = Figures(engine=engine)
    if busy > 0.25:
        fig.notes.append(f"{label}/{engine}: machine {busy:.0%} busy before start")
    server, dbname = start(label, engine, run_id)
    try:
        asyncio.run(bench(server, args, fig))
        if server.proc is None or server.proc.poll() is not None:
            raise RuntimeError(f"{label} died during the run:\n{server.tail_log()}")
        return fig, server.version
    finally:
        server.stop()
        if dbname:
            drop_pg_database(dbname)
            _databases.remove(dbname)


# --------------------------------------------------------------------------
# report


def print_report(results: dict[str, dict[str, Figures]], versions: dict[str, str], args: argparse.Namespace) -> None:
    print()
    print("=" * 96)
    print(f"nproc: {os.cpu_count()}  cpu: {cpu_model()}  python: {platform.python_version()}")
    for label, version in versions.items():
        print(f"{label}: {version}")
    print(f"{args.messages} messages of {WORDS_PER_MESSAGE} words in {args.rooms} rooms from {args.users} users; "
          f"{args.repeats} searches per term and order (limit 10); 127.0.0.1")
    print("terms: " + ", ".join(f"{k}={v!r}" for k, v in TERMS.items()))
    notes = []
    for engine, per_server in results.items():
        print("-" * 96)
        print(f"{engine:30s} {'ours p50':>10s} {'ours p99':>10s} {'syn p50':>10s} {'syn p99':>10s} "
              f"{'count ours/syn':>16s}")
        keys = [(label, order) for label in TERMS for order in ("rank", "recent")]
        for key in keys:
            cells = []
            for server in ("ours", "synapse"):
                lat = per_server[server].latencies.get(key, []) if server in per_server else []
                cells += [f"{percentile(lat, 50) * 1000:10.1f}", f"{percentile(lat, 99) * 1000:10.1f}"] if lat \
                    else [f"{'-':>10s}"] * 2
            counts = "/".join(str(per_server[s].counts.get(key, "-")) if s in per_server else "-"
                              for s in ("ours", "synapse"))
            print(f"{'search ' + key[0] + ' by ' + key[1] + ' (ms)':30s} {' '.join(cells)} {counts:>16s}")
        cells = []
        for server in ("ours", "synapse"):
            lat = per_server[server].directory if server in per_server else []
            cells += [f"{percentile(lat, 50) * 1000:10.1f}", f"{percentile(lat, 99) * 1000:10.1f}"] if lat \
                else [f"{'-':>10s}"] * 2
        print(f"{'user directory (ms)':30s} {' '.join(cells)}")
        for label, fig in per_server.items():
            rate = fig.sent / fig.send_seconds if fig.send_seconds else 0
            print(f"  {label}: setup sent {fig.sent} messages in {fig.send_seconds:.0f}s ({rate:.0f}/s); "
                  f"errors: send {fig.send_errors}, search {fig.search_errors}")
            notes += fig.notes
    print("-" * 96)
    for note in notes:
        print(f"NOTE: {note}")
    print("Latency in milliseconds, lower is better. 'count' is each server's own estimate of the matches.")
    print("=" * 96)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2000 messages, 10 searches per term")
    parser.add_argument("--messages", type=int, help="messages to search through (default 100000)")
    parser.add_argument("--users", type=int, default=20, help="senders (default 20)")
    parser.add_argument("--rooms", type=int, default=20, help="rooms every sender joins (default 20)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight while sending (default 32)")
    parser.add_argument("--repeats", type=int, help="searches per term and order (default 50)")
    parser.add_argument("--only", choices=["ours", "synapse"], help="bench one server only")
    parser.add_argument("--engine", choices=["sqlite", "postgres"], help="one database engine only")
    args = parser.parse_args()
    if args.messages is None:
        args.messages = 2000 if args.quick else 100_000
    if args.repeats is None:
        args.repeats = 10 if args.quick else 50
    args.messages = min(max(args.messages, 100), 1_000_000)
    args.users = min(max(args.users, 2), 500)
    args.rooms = min(max(args.rooms, 1), 200)
    args.concurrency = min(max(args.concurrency, 1), 256)
    args.repeats = min(max(args.repeats, 1), 1000)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if (os.cpu_count() or 1) > max(SERVER_CPU, WRK_CPU):
        os.sched_setaffinity(0, {WRK_CPU})

    run_id = f"{os.getpid()}"
    engines = [args.engine] if args.engine else ["sqlite", "postgres"]
    labels = [args.only] if args.only else ["ours", "synapse"]
    results: dict[str, dict[str, Figures]] = {}
    versions: dict[str, str] = {}
    try:
        for engine in engines:
            results[engine] = {}
            for label in labels:  # one after the other, never both at once
                results[engine][label], versions[label] = bench_server(label, engine, args, run_id)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception as e:
        log(f"ERROR: {type(e).__name__}: {e}")
        if any(results.values()):
            print_report({k: v for k, v in results.items() if v}, versions, args)
        return 1
    finally:
        stop_all()
        for name in list(_databases):
            drop_pg_database(name)
    print_report(results, versions, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
