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
import json
import os
import sys
import time
from dataclasses import dataclass, field

from client import CLIENT, Conn, register_many, run_pool
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
    process_group_cpu_seconds,
    ratio_cell,
    registration_secret,
    run_side_by_side,
    serving,
)
from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key
from signedjson.sign import sign_json
from unpaddedbase64 import encode_base64


def random_key() -> str:
    return encode_base64(os.urandom(32))


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
        return per_second(self.queries, self.query_seconds)

    @property
    def claims_per_s(self) -> float:
        return per_second(self.claims, self.claim_seconds)


async def timed(conn: Conn, path: str, body: dict, token: str, check) -> tuple[bool, float]:
    t0 = time.perf_counter()
    try:
        status, payload = await conn.request("POST", path, body, token)
        ok = status == 200 and check(json.loads(payload))
    except Exception:
        ok = False
    return ok, time.perf_counter() - t0


@dataclass
class Timed:
    """`count` POSTs of the same body, `concurrency` at a time: what came back and what it cost."""

    ok: int
    errors: int
    seconds: float
    latencies: list[float]  # sorted
    server_cpu: float  # seconds


async def post_many(server: Server, path: str, body: dict, tokens: list[str], check, count: int,
                    concurrency: int) -> Timed:
    pgid = server.proc.pid
    cpu0, t0 = process_group_cpu_seconds(pgid), time.perf_counter()
    results = await run_pool(server.port, [lambda c, i=i: timed(c, path, body, tokens[i % len(tokens)], check)
                                           for i in range(count)], concurrency)
    seconds, cpu = time.perf_counter() - t0, process_group_cpu_seconds(pgid) - cpu0
    ok = sum(ok for ok, _ in results)
    return Timed(ok, len(results) - ok, seconds, sorted(s for _, s in results), cpu)


async def bench(server: Server, args: argparse.Namespace, fig: Figures) -> None:
    secret = registration_secret(server)
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

    got = await post_many(server, f"{CLIENT}/keys/query", query_body, tokens, query_ok, args.queries, args.concurrency)
    fig.queries, fig.query_errors, fig.query_seconds = got.ok, got.errors, got.seconds
    fig.query_latencies, fig.query_cpu = got.latencies, got.server_cpu
    log(f"{label}: /keys/query x{args.queries} ({args.users} users each): {fig.queries_per_s:.1f}/s, "
        f"p50 {percentile(fig.query_latencies, 50) * 1000:.1f} ms, {fig.query_errors} errors")

    claim_body = {"one_time_keys": {u: {d: "signed_curve25519"} for u, d in ids}}
    claimed: list[int] = []

    def claim_ok(answer: dict) -> bool:
        handed_out = answer.get("one_time_keys", {})
        keys = [k for devices in handed_out.values() for d in devices.values() for k in d]
        claimed.extend(1 for k in keys if not k.endswith(":FB"))
        return len(keys) == len(ids)

    got = await post_many(server, f"{CLIENT}/keys/claim", claim_body, tokens, claim_ok, args.claims, args.concurrency)
    fig.claims, fig.claim_errors, fig.claim_seconds = got.ok, got.errors, got.seconds
    fig.claim_latencies, fig.claim_cpu = got.latencies, got.server_cpu
    fig.keys_claimed = len(claimed)
    log(f"{label}: /keys/claim x{args.claims} ({len(ids)} devices each): {fig.claims_per_s:.1f}/s, "
        f"p50 {percentile(fig.claim_latencies, 50) * 1000:.1f} ms, {fig.claim_errors} errors, "
        f"{fig.keys_claimed} one-time keys handed out")
    if fig.keys_claimed != args.claims * len(ids):
        fig.notes.append(f"{label}: {fig.keys_claimed} one-time keys claimed, expected {args.claims * len(ids)}")


def bench_server(label: str, engine: str, args: argparse.Namespace) -> tuple[Figures, str]:
    fig = Figures(engine=engine, notes=busy_notes(f"{label}/{engine}"))
    workdir = f"keys-{label}" + ("-pg" if engine == "postgres" else "")
    with serving(label, workdir, engine, OUR_EXTRA, SYNAPSE_EXTRA) as server:
        asyncio.run(bench(server, args, fig))
    return fig, server.version


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
    print_header(86, versions)
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
            print(f"{name:28s} {' '.join(cells)}   {ratio_cell(per_server, get, higher_better)}")
        for label, fig in per_server.items():
            print(f"  {label}: errors query {fig.query_errors}, claim {fig.claim_errors}; "
                  f"one-time keys handed out {fig.keys_claimed}")
            notes += fig.notes
    print_footer(86, notes, "Ratios are ours/synapse for rates and synapse/ours for latency and CPU: "
                            "above 1 means ours is better.")


def main() -> int:
    parser = bench_parser(__doc__, "smoke run: fewer requests", engines=True)
    parser.add_argument("--users", type=int, default=100, help="users (one device each) queried/claimed at once")
    parser.add_argument("--queries", type=int, help="/keys/query requests (default 200, quick 20)")
    parser.add_argument("--claims", type=int, help="/keys/claim requests = one-time keys per device "
                        "(default 50, quick 5)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent requests")
    args = parser.parse_args()
    fill_defaults(args, quick={"queries": 20, "claims": 5}, full={"queries": 200, "claims": 50})
    clamp(args, users=(1, 1000))

    pin_load_generator()
    return run_side_by_side(bench_server, args, lambda results, versions: print_report(results, versions, args),
                            chosen_engines(args))


if __name__ == "__main__":
    sys.exit(main())
