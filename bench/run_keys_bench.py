#!/usr/bin/env python3
"""Hand-run benchmark: our homeserver vs Synapse on the end-to-end key endpoints.

For each database engine and each server in turn: register N users (one device each), upload
signed device keys, one-time keys and a fallback key for every device, then measure
/keys/query asking for all N users at once, and /keys/claim claiming one one-time key from
each of the N devices at once (every claim answered from one-time keys, not the fallback).
Everything on 127.0.0.1. See bench/README.md.

    .venv/bin/python bench/run_keys_bench.py [--quick] [--only ours|synapse] [--engine sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
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
    create_pg_database,
    drop_pg_database,
    log,
    pg_database_config,
    process_group_cpu_seconds,
    start_ours,
    start_synapse,
    stop_all,
)
from run_send_bench import CLIENT, OUR_EXTRA, SYNAPSE_EXTRA, Conn, percentile, register_many, run_pool
from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key
from signedjson.sign import sign_json


def random_key() -> str:
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


def key_upload(user_id: str, device_id: str, one_time: int) -> dict:
    """What a client uploads at first login: signed device keys, one-time keys, a fallback key."""
    signing_key = generate_signing_key(device_id)
    device_keys = sign_json({
        "user_id": user_id, "device_id": device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"curve25519:{device_id}": random_key(),
                 f"ed25519:{device_id}": encode_verify_key_base64(get_verify_key(signing_key))},
    }, user_id, signing_key)
    otks = {f"signed_curve25519:K{i:05d}": sign_json({"key": random_key()}, user_id, signing_key)
            for i in range(one_time)}
    fallback = {"signed_curve25519:FB": sign_json({"key": random_key(), "fallback": True}, user_id, signing_key)}
    return {"device_keys": device_keys, "one_time_keys": otks, "fallback_keys": fallback}


@dataclass
class Figures:
    engine: str = ""
    queries: int = 0
    query_errors: int = 0
    query_seconds: float = 0.0
    query_latencies: list[float] = field(default_factory=list)
    query_cpu: float = 0.0  # server CPU seconds during the query phase
    claims: int = 0
    claim_errors: int = 0
    claim_seconds: float = 0.0
    claim_latencies: list[float] = field(default_factory=list)
    claim_cpu: float = 0.0
    keys_claimed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def queries_per_s(self) -> float:
        return self.queries / self.query_seconds if self.query_seconds else 0.0

    @property
    def claims_per_s(self) -> float:
        return self.claims / self.claim_seconds if self.claim_seconds else 0.0


async def timed(conn: Conn, path: str, body: dict, token: str, check) -> tuple[bool, float]:
    t0 = time.perf_counter()
    try:
        status, payload = await conn.request("POST", path, body, token)
        ok = status == 200 and check(json.loads(payload))
    except Exception:
        ok = False
    return ok, time.perf_counter() - t0


async def bench(server: Server, args: argparse.Namespace, fig: Figures) -> None:
    config = yaml.safe_load((server.workdir / "homeserver.yaml").read_text())
    secret = config["registration_shared_secret"]
    port, label = server.port, server.label

    t = time.perf_counter()
    tokens = await register_many(port, secret, [f"keyuser{i}" for i in range(args.users)])

    async def identify(conn: Conn, token: str) -> tuple[str, str]:
        who = await conn.json("GET", f"{CLIENT}/account/whoami", None, token)
        return who["user_id"], who["device_id"]

    ids = await run_pool(port, [lambda c, tok=tok: identify(c, tok) for tok in tokens], 8)
    uploads = [key_upload(u, d, args.claims) for u, d in ids]
    await run_pool(port, [lambda c, tok=tok, body=body: c.json("POST", f"{CLIENT}/keys/upload", body, tok)
                          for tok, body in zip(tokens, uploads, strict=True)], 8)
    log(f"{label}: setup: {args.users} users with device keys and {args.claims} one-time keys each "
        f"in {time.perf_counter() - t:.1f}s")

    users = [u for u, _ in ids]
    query_body = {"device_keys": {u: [] for u in users}}

    def query_ok(answer: dict) -> bool:
        return len(answer.get("device_keys", {})) == len(users)

    pgid = server.proc.pid
    cpu0, t0 = process_group_cpu_seconds(pgid), time.perf_counter()
    results = await run_pool(port, [lambda c, i=i: timed(c, f"{CLIENT}/keys/query", query_body, tokens[i % len(tokens)],
                                                         query_ok) for i in range(args.queries)], args.concurrency)
    fig.query_seconds, fig.query_cpu = time.perf_counter() - t0, process_group_cpu_seconds(pgid) - cpu0
    fig.queries = sum(ok for ok, _ in results)
    fig.query_errors = len(results) - fig.queries
    fig.query_latencies = sorted(s for _, s in results)
    log(f"{label}: /keys/query x{args.queries} ({args.users} users each): {fig.queries_per_s:.1f}/s, "
        f"p50 {percentile(fig.query_latencies, 50) * 1000:.1f} ms, {fig.query_errors} errors")

    claim_body = {"one_time_keys": {u: {d: "signed_curve25519"} for u, d in ids}}
    claimed: list[int] = []

    def claim_ok(answer: dict) -> bool:
        got = answer.get("one_time_keys", {})
        keys = [k for devices in got.values() for d in devices.values() for k in d]
        claimed.extend(1 for k in keys if not k.endswith(":FB"))
        return len(keys) == len(ids)

    cpu0, t0 = process_group_cpu_seconds(pgid), time.perf_counter()
    results = await run_pool(port, [lambda c, i=i: timed(c, f"{CLIENT}/keys/claim", claim_body, tokens[i % len(tokens)],
                                                         claim_ok) for i in range(args.claims)], args.concurrency)
    fig.claim_seconds, fig.claim_cpu = time.perf_counter() - t0, process_group_cpu_seconds(pgid) - cpu0
    fig.claims = sum(ok for ok, _ in results)
    fig.claim_errors = len(results) - fig.claims
    fig.claim_latencies = sorted(s for _, s in results)
    fig.keys_claimed = len(claimed)
    log(f"{label}: /keys/claim x{args.claims} ({len(ids)} devices each): {fig.claims_per_s:.1f}/s, "
        f"p50 {percentile(fig.claim_latencies, 50) * 1000:.1f} ms, {fig.claim_errors} errors, "
        f"{fig.keys_claimed} one-time keys handed out")
    if fig.keys_claimed != args.claims * len(ids):
        fig.notes.append(f"{label}: {fig.keys_claimed} one-time keys claimed, expected {args.claims * len(ids)}")


def bench_server(label: str, engine: str, args: argparse.Namespace, run_id: str) -> tuple[Figures, str]:
    busy = cpu_busy()
    log(f"{label}/{engine}: CPU busy before start: {busy:.0%}")
    fig = Figures(engine=engine)
    if busy > 0.25:
        fig.notes.append(f"{label}/{engine}: machine {busy:.0%} busy before start")
        log("WARNING: the machine is busy; other processes will skew the figures")
    database, dbname = None, None
    if engine == "postgres":
        dbname = f"bench_keys_{label}_{run_id}"
        create_pg_database(dbname)
        database = pg_database_config(dbname)
    workdir = f"keys-{label}" + ("-pg" if engine == "postgres" else "")
    server = start_synapse(workdir, database, SYNAPSE_EXTRA) if label == "synapse" \
        else start_ours(workdir, database, OUR_EXTRA)
    try:
        asyncio.run(bench(server, args, fig))
        if server.proc is None or server.proc.poll() is not None:
            raise RuntimeError(f"{label} died during the run:\n{server.tail_log()}")
        return fig, server.version
    finally:
        server.stop()
        if dbname:
            drop_pg_database(dbname)


ROWS = [
    # (name, getter, higher is better)
    ("/keys/query (req/s)", lambda f: f.queries_per_s, True),
    ("/keys/query p50 (ms)", lambda f: percentile(f.query_latencies, 50) * 1000, False),
    ("/keys/query p99 (ms)", lambda f: percentile(f.query_latencies, 99) * 1000, False),
    ("/keys/query CPU (ms/req)", lambda f: f.query_cpu / f.queries * 1000 if f.queries else 0.0, False),
    ("/keys/claim (req/s)", lambda f: f.claims_per_s, True),
    ("/keys/claim p50 (ms)", lambda f: percentile(f.claim_latencies, 50) * 1000, False),
    ("/keys/claim p99 (ms)", lambda f: percentile(f.claim_latencies, 99) * 1000, False),
    ("/keys/claim CPU (ms/req)", lambda f: f.claim_cpu / f.claims * 1000 if f.claims else 0.0, False),
]


def print_report(results: dict, versions: dict[str, str], args: argparse.Namespace) -> None:
    print()
    print("=" * 86)
    for label, version in versions.items():
        print(f"{label}: {version}")
    print(f"{args.users} users/devices; {args.queries} /keys/query of all {args.users} users; {args.claims} "
          f"/keys/claim of one key from each of {args.users} devices; {args.concurrency} concurrent; 127.0.0.1")
    notes = []
    for engine, per_server in results.items():
        print("-" * 86)
        print(f"{engine:28s} {'ours':>12s} {'synapse':>12s}   ratio (>1: ours better)")
        for name, get, higher_better in ROWS:
            cells = []
            for label in ("ours", "synapse"):
                fig = per_server.get(label)
                cells.append(f"{get(fig):12.1f}" if fig is not None else f"{'-':>12s}")
            ratio = ""
            if "ours" in per_server and "synapse" in per_server:
                a, b = get(per_server["ours"]), get(per_server["synapse"])
                r = (a / b if higher_better else b / a) if a and b else float("nan")
                ratio = f"{r:8.2f}x"
            print(f"{name:28s} {' '.join(cells)}   {ratio}")
        for label, fig in per_server.items():
            print(f"  {label}: errors query {fig.query_errors}, claim {fig.claim_errors}; "
                  f"one-time keys handed out {fig.keys_claimed}")
            notes += fig.notes
    print("-" * 86)
    for note in notes:
        print(f"NOTE: {note}")
    print("Ratios are ours/synapse for rates and synapse/ours for latency and CPU: above 1 means ours is better.")
    print("=" * 86)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer requests")
    parser.add_argument("--users", type=int, default=100, help="users (one device each) queried/claimed at once")
    parser.add_argument("--queries", type=int, help="/keys/query requests (default 200, quick 20)")
    parser.add_argument("--claims", type=int, help="/keys/claim requests = one-time keys per device "
                        "(default 50, quick 5)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent requests")
    parser.add_argument("--only", choices=["ours", "synapse"], help="bench one server only")
    parser.add_argument("--engine", choices=["sqlite", "postgres"], help="one database engine only")
    args = parser.parse_args()
    args.queries = args.queries or (20 if args.quick else 200)
    args.claims = args.claims or (5 if args.quick else 50)
    args.users = min(max(args.users, 1), 1000)

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
            for label in labels:
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
    print_report(results, versions, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
