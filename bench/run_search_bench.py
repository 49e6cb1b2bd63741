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
import random
import sys
import time
from dataclasses import dataclass, field

from client import CLIENT, Conn, register_many, rooms_everyone_joins, send_text
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
    print_footer,
    print_header,
    registration_secret,
    run_side_by_side,
    serving,
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
                for _ in range(3):  # a transport hiccup under load is retried with the same txn ID
                    try:
                        status = await send_text(conn, token, room, f"s{i}", bodies[i])
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


async def bench(server: Server, args: argparse.Namespace, fig: Figures) -> None:
    secret = registration_secret(server)
    label, port = server.label, server.port
    t = time.perf_counter()
    tokens = await register_many(port, secret, [f"sender{i}" for i in range(args.users)])
    rooms = await rooms_everyone_joins(port, tokens, args.rooms, "search room", args.concurrency)
    log(f"{label}: setup: {args.users} users, {args.rooms} rooms in {time.perf_counter() - t:.1f}s; "
        f"sending {args.messages} messages with {args.concurrency} senders")
    await send_messages(server, tokens, rooms, message_bodies(args.messages), args.concurrency, fig)
    log(f"{label}: sent {fig.sent} messages in {fig.send_seconds:.0f}s ({fig.sent / fig.send_seconds:.0f}/s), "
        f"{fig.send_errors} errors")
    if fig.send_errors:
        fig.notes.append(f"{label}: {fig.send_errors} messages not sent")
    await search_phase(server, tokens[0], args.repeats, fig)


def bench_server(label: str, engine: str, args: argparse.Namespace) -> tuple[Figures, str]:
    fig = Figures(engine=engine, notes=busy_notes(f"{label}/{engine}"))
    workdir = f"search-{label}" + ("" if engine == "sqlite" else "-postgres")
    with serving(label, workdir, engine, OUR_EXTRA, SYNAPSE_EXTRA) as server:
        asyncio.run(bench(server, args, fig))
    return fig, server.version


# --------------------------------------------------------------------------
# report


def latency_cells(per_server: dict[str, Figures], latencies) -> str:
    """p50 and p99 in ms of each server's `latencies(figures)`, or dashes where it was not measured."""
    cells = []
    for server in ("ours", "synapse"):
        lat = latencies(per_server[server]) if server in per_server else []
        cells += [f"{percentile(lat, 50) * 1000:10.1f}", f"{percentile(lat, 99) * 1000:10.1f}"] if lat \
            else [f"{'-':>10s}"] * 2
    return " ".join(cells)


def print_report(results: dict[str, dict[str, Figures]], versions: dict[str, str], args: argparse.Namespace) -> None:
    print_header(96, versions)
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
            cells = latency_cells(per_server, lambda fig, key=key: fig.latencies.get(key, []))
            counts = "/".join(str(per_server[s].counts.get(key, "-")) if s in per_server else "-"
                              for s in ("ours", "synapse"))
            print(f"{'search ' + key[0] + ' by ' + key[1] + ' (ms)':30s} {cells} {counts:>16s}")
        print(f"{'user directory (ms)':30s} {latency_cells(per_server, lambda fig: fig.directory)}")
        for label, fig in per_server.items():
            rate = per_second(fig.sent, fig.send_seconds)
            print(f"  {label}: setup sent {fig.sent} messages in {fig.send_seconds:.0f}s ({rate:.0f}/s); "
                  f"errors: send {fig.send_errors}, search {fig.search_errors}")
            notes += fig.notes
    print_footer(96, notes, "Latency in milliseconds, lower is better. "
                            "'count' is each server's own estimate of the matches.")


def main() -> int:
    parser = bench_parser(__doc__, "smoke run: 2000 messages, 10 searches per term", engines=True)
    parser.add_argument("--messages", type=int, help="messages to search through (default 100000)")
    parser.add_argument("--users", type=int, default=20, help="senders (default 20)")
    parser.add_argument("--rooms", type=int, default=20, help="rooms every sender joins (default 20)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight while sending (default 32)")
    parser.add_argument("--repeats", type=int, help="searches per term and order (default 50)")
    args = parser.parse_args()
    fill_defaults(args, quick={"messages": 2000, "repeats": 10}, full={"messages": 100_000, "repeats": 50})
    clamp(args, messages=(100, 1_000_000), users=(2, 500), rooms=(1, 200), concurrency=(1, 256), repeats=(1, 1000))

    pin_load_generator()
    return run_side_by_side(bench_server, args, lambda results, versions: print_report(results, versions, args),
                            chosen_engines(args))


if __name__ == "__main__":
    sys.exit(main())
