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
import hashlib
import hmac
import json
import os
import platform
import resource
import signal
import sys
import time
import urllib.parse
from dataclasses import dataclass, field

import yaml
from common import (
    HOST,
    NO_LIMIT,
    SERVER_CPU,
    WRK_CPU,
    Server,
    cpu_busy,
    cpu_model,
    create_pg_database,
    drop_pg_database,
    log,
    pg_database_config,
    postgres_cpu_seconds,
    process_group_cpu_seconds,
    start_ours,
    start_synapse,
    stop_all,
)

PASSWORD = "bench-password-123"
CLIENT = "/_matrix/client/v3"
REQUEST_TIMEOUT = 60.0  # seconds for any one request

# Registration is setup, not measured: cheap password hashes keep it short on both servers.
OUR_EXTRA = {"password_config": {"argon2_opslimit": 1, "argon2_memlimit": 8192}}
SYNAPSE_EXTRA = {
    "bcrypt_rounds": 4,
    # Synapse's rate limits beyond the ones common.RATE_LIMITS turns off.
    "rc_joins": {"local": NO_LIMIT, "remote": NO_LIMIT},
    "rc_joins_per_room": NO_LIMIT,
    "rc_invites": {"per_room": NO_LIMIT, "per_user": NO_LIMIT, "per_issuer": NO_LIMIT},
    "rc_room_creation": NO_LIMIT,
}


# --------------------------------------------------------------------------
# a small keep-alive HTTP/1.1 client on asyncio streams (lighter than a general client)


class HttpError(Exception):
    pass


class Conn:
    """One keep-alive connection; requests on it run one at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: dict | None = None, token: str | None = None
    ) -> tuple[int, bytes]:
        """Returns (status, body bytes). Raises HttpError or OSError when the exchange fails."""
        try:
            return await asyncio.wait_for(self._request(method, path, body, token), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, HttpError, asyncio.IncompleteReadError, ValueError):
            await self.close()  # start clean on the next request
            raise

    async def _request(self, method: str, path: str, body: dict | None, token: str | None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        elif method in ("POST", "PUT"):
            head += "Content-Length: 0\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            payload = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")  # no trailers expected
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            payload = b"".join(chunks)
        else:
            payload = await self.reader.read()  # until close
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, payload

    async def json(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        """A request that must answer 200 with a JSON object (setup steps)."""
        status, payload = await self.request(method, path, body, token)
        if status != 200:
            raise RuntimeError(f"{method} {path} -> {status} {payload[:300]!r}")
        return json.loads(payload)


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


async def run_pool(port: int, jobs: list, concurrency: int) -> list:
    """Run the coroutine functions `jobs` (each takes a Conn) on `concurrency` connections, in order."""
    results: list = [None] * len(jobs)
    next_job = iter(range(len(jobs)))

    async def worker() -> None:
        conn = Conn(port)
        try:
            for i in next_job:
                results[i] = await jobs[i](conn)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(jobs))))))
    return results


# --------------------------------------------------------------------------
# setup


async def register(conn: Conn, secret: str, username: str) -> str:
    """Shared-secret registration; returns an access token."""
    path = "/_synapse/admin/v1/register"
    nonce = (await conn.json("GET", path))["nonce"]
    mac = hmac.new(
        secret.encode(), "\x00".join([nonce, username, PASSWORD, "notadmin"]).encode(), hashlib.sha1
    ).hexdigest()
    body = {"nonce": nonce, "username": username, "password": PASSWORD, "admin": False, "mac": mac}
    return (await conn.json("POST", path, body))["access_token"]


async def register_many(port: int, secret: str, names: list[str], concurrency: int = 8) -> list[str]:
    jobs = [lambda c, n=n: register(c, secret, n) for n in names]
    return await run_pool(port, jobs, concurrency)


async def create_room(conn: Conn, token: str, name: str) -> str:
    body = {"preset": "public_chat", "name": name}
    return (await conn.json("POST", f"{CLIENT}/createRoom", body, token))["room_id"]


async def join(conn: Conn, token: str, room_id: str) -> tuple[bool, float]:
    """(answered 200, seconds taken); transport errors count as failures."""
    t0 = time.perf_counter()
    try:
        status, _ = await conn.request("POST", f"{CLIENT}/join/{q(room_id)}", {}, token)
    except Exception:
        status = 0
    return status == 200, time.perf_counter() - t0


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
        return self.events / self.send_seconds if self.send_seconds else 0.0

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.messages_seconds if self.messages_seconds else 0.0

    @property
    def page_events_per_s(self) -> float:
        return self.page_events / self.messages_seconds if self.messages_seconds else 0.0

    @property
    def joins_per_s(self) -> float:
        return self.joins / self.join_seconds if self.join_seconds else 0.0


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


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


def start(label: str, engine: str, run_id: str) -> tuple[Server, str | None]:
    """Start `label` on `engine`; returns the server and the scratch PostgreSQL database, if any."""
    database, dbname = None, None
    if engine == "postgres":
        dbname = f"bench_send_{label}_{run_id}"
        create_pg_database(dbname)
        _databases.append(dbname)
        database = pg_database_config(dbname)
    workdir = f"send-{label}-{engine}"
    if label == "synapse":
        return start_synapse(workdir, database, SYNAPSE_EXTRA), dbname
    return start_ours(workdir, database, OUR_EXTRA), dbname


_databases: list[str] = []


def drop_databases() -> None:
    for name in list(_databases):
        drop_pg_database(name)
        _databases.remove(name)


async def bench(server: Server, args: argparse.Namespace, fig: Figures) -> None:
    config = yaml.safe_load((server.workdir / "homeserver.yaml").read_text())
    secret = config.get("registration_shared_secret")
    if not secret:
        raise RuntimeError(f"{server.label}: no registration_shared_secret in its config")
    label, port = server.label, server.port

    # 1. setup: users, rooms, everyone joins every room
    t = time.perf_counter()
    tokens = await register_many(port, secret, [f"sender{i}" for i in range(args.users)])
    conn = Conn(port)
    try:
        rooms = [await create_room(conn, tokens[0], f"bench room {r}") for r in range(args.rooms)]
    finally:
        await conn.close()
    pairs = [(tok, room) for tok in tokens[1:] for room in rooms]
    joined = await run_pool(port, [lambda c, p=p: join(c, *p) for p in pairs], args.concurrency)
    failed = sum(not ok for ok, _ in joined)
    if failed:
        raise RuntimeError(f"{label}: {failed} of {len(pairs)} setup joins failed")
    log(f"{label}: setup: {args.users} users, {args.rooms} rooms, {len(pairs)} joins "
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
    conn = Conn(port)
    try:
        room = await create_room(conn, tokens[0], "bench join room")
    finally:
        await conn.close()
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


def bench_server(label: str, engine: str, args: argparse.Namespace, run_id: str) -> tuple[Figures, str]:
    busy = cpu_busy()
    log(f"{label}/{engine}: CPU busy before start: {busy:.0%}")
    fig = Figures(engine=engine)
    if busy > 0.25:
        fig.notes.append(f"{label}/{engine}: machine {busy:.0%} busy before start")
        log("WARNING: the machine is busy; other processes will skew the figures")
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
    print()
    print("=" * 86)
    pinned = (os.cpu_count() or 1) > max(SERVER_CPU, WRK_CPU)
    print(f"nproc: {os.cpu_count()}  cpu: {cpu_model()}  python: {platform.python_version()}"
          f"  pinning: {'server CPU 0, load generator CPU 1' if pinned else 'none'}")
    for label, version in versions.items():
        print(f"{label}: {version}")
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
            ratio = ""
            if "ours" in per_server and "synapse" in per_server:
                a, b = get(per_server["ours"]), get(per_server["synapse"])
                r = (a / b if higher_better else b / a) if a and b else float("nan")
                ratio = f"{r:8.2f}x"
            print(f"{name + ' (' + unit + ')':24s} {' '.join(cells)}   {ratio}")
        for label, fig in per_server.items():
            print(f"  {label}: errors send {fig.send_errors}, /messages {fig.messages_errors}, "
                  f"joins {fig.join_errors}; history walked {fig.history} events x {fig.walks}; "
                  f"server CPU while sending {fig.server_cpu:.2f} cores, load generator {fig.client_cpu:.2f} cores")
            notes += fig.notes
    print("-" * 86)
    for note in notes:
        print(f"NOTE: {note}")
    print("Ratios are ours/synapse for rates and synapse/ours for latency and CPU, so above 1 means ours is "
          "better.\n'!' marks a figure with errors.")
    print("=" * 86)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: short durations, few users")
    parser.add_argument("--duration", type=float, help="seconds of sending (default 15, quick 3)")
    parser.add_argument("--warmup", type=float, help="seconds of sending before measuring (default 3, quick 1)")
    parser.add_argument("--users", type=int, help="users, each one sender (default 50, quick 10)")
    parser.add_argument("--rooms", type=int, help="rooms every user joins (default 10, quick 3)")
    parser.add_argument("--concurrency", type=int, help="concurrent senders and joiners (default = users)")
    parser.add_argument("--messages-duration", type=float, help="seconds of /messages walks (default 5, quick 1)")
    parser.add_argument("--join-users", type=int, help="users joining the join room (default 500, quick 20)")
    parser.add_argument("--only", choices=["ours", "synapse"], help="bench one server only")
    parser.add_argument("--engine", choices=["sqlite", "postgres"], help="one database engine only")
    args = parser.parse_args()
    defaults = (
        {"duration": 3, "warmup": 1, "users": 10, "rooms": 3, "messages_duration": 1, "join_users": 20}
        if args.quick
        else {"duration": 15, "warmup": 3, "users": 50, "rooms": 10, "messages_duration": 5, "join_users": 500}
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.duration = min(max(args.duration, 1), 300)
    args.warmup = min(max(args.warmup, 0), 60)
    args.messages_duration = min(max(args.messages_duration, 0.1), 120)
    args.users = min(max(args.users, 2), 1000)
    args.rooms = min(max(args.rooms, 1), 100)
    args.join_users = min(max(args.join_users, 1), 5000)
    args.concurrency = min(max(args.concurrency or args.users, 1), 1000)

    # Ctrl-C and SIGTERM become exceptions, so the servers are stopped in the finally below
    # (SIGINT explicitly too: a shell's background job starts with it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # This process is the load generator: keep it off the server's core.
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
    except Exception as e:  # report, and still print what we have
        log(f"ERROR: {type(e).__name__}: {e}")
        if any(results.values()):
            print_report({k: v for k, v in results.items() if v}, versions, args)
        return 1
    finally:
        stop_all()
        drop_databases()
    print_report(results, versions, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
