#!/usr/bin/env python3
"""Hand-run benchmark: federation between two of our servers vs between two Synapses.

Two pairs, one after the other (never both at once, so they do not share the cores): "ours" (two
of our server processes, A1 and A2) and "synapse" (two Synapse processes, S1 and S2). Each server
has its own config, ports and SQLite database, and the two of a pair federate over TLS on
127.0.0.1 exactly as in tests/clients/test_federation_*.py (whose harness this reuses: server
names 127.0.0.1:PORT, one throw-away CA, loopback whitelisted). For each pair:

1. join: a user on server 1 creates a public room and fills it with --state distinct state events
   (type org.example.bench, distinct state_keys) and --messages messages; then a user on server 2
   joins by room ID with ?server_name=<server 1>. Timed: the POST /join answer.
2. pings: the user on server 1 sends --pings messages one at a time, each once the previous one
   was seen by the user on server 2 (long-polled /sync). Median and p90 latency.
3. burst: the user on server 1 sends --burst messages back to back; timed from the first send until
   server 2's user has seen them all. Throughput in events/s, and server 2's (and server 1's)
   process CPU time over the phase divided by the number of events.

    .venv/bin/python bench/federation.py [--state 500] [--messages 2000] [--burst 200] [--pings 20]
                                         [--pairs ours,synapse,mixed]

Synapse comes from .venv-synapse (HOMESERVER_TEST_SYNAPSE_PYTHON or --synapse-python points at
another install). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "bench")]

WIDTH = 82
PAIRS = ("ours", "synapse", "mixed")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state", type=int, default=500, help="state events in the room before the join (500)")
    p.add_argument("--messages", type=int, default=2000, help="messages in the room before the join (2000)")
    p.add_argument("--burst", type=int, default=200, help="messages sent back to back in the burst (200)")
    p.add_argument("--pings", type=int, default=20, help="messages sent one at a time for latency (20)")
    p.add_argument("--fill-connections", type=int, default=4, help="concurrent requests while filling (4)")
    p.add_argument("--pairs", default="ours,synapse,mixed",
                   help="pairs to bench, comma-separated: ours (A1->A2), synapse (S1->S2), mixed (S1->A2: "
                        "Synapse's room and sender, our joiner and receiver) (all three)")
    p.add_argument("--synapse-python", help="Python of a Synapse install (default: .venv-synapse)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for arrivals (300)")
    args = p.parse_args()
    if args.synapse_python:
        os.environ["HOMESERVER_TEST_SYNAPSE_PYTHON"] = args.synapse_python
    return args


ARGS = parse_args()

# After the argument parsing: federation_support reads HOMESERVER_TEST_SYNAPSE_PYTHON on import.
from client import CLIENT, Conn, q  # noqa: E402
from common import cpu_model, log  # noqa: E402

from tests.clients.federation_support import (  # noqa: E402
    SYNAPSE_PYTHON,
    FederatingServer,
    SynapseProcess,
    TestCa,
)

# --------------------------------------------------------------------------
# helpers


def cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid` (all its threads), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(server: Any) -> int:
    proc = server._proc  # both harness classes keep their Popen there
    assert proc is not None and proc.poll() is None, "server not running"
    return proc.pid


async def register(port: int, localpart: str) -> str:
    """Open registration (both pairs' configs allow it) with the dummy auth stage; returns a token."""
    conn = Conn(port)
    try:
        body = await conn.json("POST", f"{CLIENT}/register", {
            "username": localpart, "password": f"{localpart} password",
            "auth": {"type": "m.login.dummy"}, "inhibit_login": False})
        return body["access_token"]
    finally:
        await conn.close()


async def put_ok(conn: Conn, path: str, body: dict, token: str) -> dict:
    return await conn.json("PUT", path, body, token)


async def fill_room(port: int, token: str, room_id: str, state: int, messages: int, connections: int) -> None:
    """`state` distinct org.example.bench state events, then `messages` messages."""
    room = q(room_id)

    async def run(paths_bodies: list[tuple[str, dict]]) -> None:
        jobs = iter(paths_bodies)

        async def worker() -> None:
            conn = Conn(port)
            try:
                for path, body in jobs:
                    await put_ok(conn, path, body, token)
            finally:
                await conn.close()

        await asyncio.gather(*(worker() for _ in range(max(1, connections))))

    await run([(f"{CLIENT}/rooms/{room}/state/org.example.bench/{q(f'key-{i:05d}')}",
                {"index": i, "filler": "x" * 40}) for i in range(state)])
    await run([(f"{CLIENT}/rooms/{room}/send/m.room.message/fill{i}",
                {"msgtype": "m.text", "body": f"fill {i}"}) for i in range(messages)])


class Watcher:
    """Long-polls /sync for one user and records when each m.room.message body in one room was
    first seen (time.monotonic())."""

    def __init__(self, port: int, token: str, room_id: str, timeline_limit: int) -> None:
        self.port, self.token, self.room_id = port, token, room_id
        self.seen: dict[str, float] = {}
        self.limited = 0  # /sync answers whose timeline was cut (gap filled from /messages)
        self._changed = asyncio.Event()
        self._conn = Conn(port)
        self._since: str | None = None
        self._task: asyncio.Task | None = None
        self._filter = q(json.dumps({
            "room": {"rooms": [room_id], "timeline": {"limit": timeline_limit},
                     "state": {"lazy_load_members": True}, "ephemeral": {"types": []},
                     "account_data": {"types": []}},
            "presence": {"types": []}, "account_data": {"types": []},
        }, separators=(",", ":")))

    async def start(self) -> None:
        # The initial sync: just its token (timeline of one event, no state to speak of).
        first = q(json.dumps({"room": {"rooms": [self.room_id], "timeline": {"limit": 1},
                                       "state": {"types": []}}, "presence": {"types": []}},
                             separators=(",", ":")))
        body = await self._conn.json("GET", f"{CLIENT}/sync?timeout=0&filter={first}", token=self.token)
        self._since = body["next_batch"]
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._conn.close()

    async def _loop(self) -> None:
        while True:
            path = f"{CLIENT}/sync?timeout=30000&since={q(self._since)}&filter={self._filter}"
            body = await self._conn.json("GET", path, token=self.token)
            now = time.monotonic()
            self._since = body["next_batch"]
            room = body.get("rooms", {}).get("join", {}).get(self.room_id)
            if room:
                timeline = room.get("timeline", {})
                self._record(timeline.get("events", []), now)
                if timeline.get("limited") and timeline.get("prev_batch"):
                    self.limited += 1
                    await self._backfill_gap(timeline["prev_batch"], now)
                self._changed.set()

    def _record(self, events: list[dict], now: float) -> None:
        for event in events:
            if event.get("type") == "m.room.message":
                body = event.get("content", {}).get("body")
                if isinstance(body, str):
                    self.seen.setdefault(body, now)

    async def _backfill_gap(self, token: str, now: float) -> None:
        """A limited timeline: read back through /messages (up to 10 pages) for what it skipped."""
        conn = Conn(self.port)
        try:
            for _ in range(10):
                body = await conn.json(
                    "GET", f"{CLIENT}/rooms/{q(self.room_id)}/messages?dir=b&limit=100&from={q(token)}",
                    token=self.token)
                self._record(body.get("chunk", []), now)
                if not body.get("chunk") or not body.get("end"):
                    break
                token = body["end"]
        finally:
            await conn.close()

    async def wait_all(self, bodies: list[str], timeout: float) -> float:
        """When the last of `bodies` was first seen."""
        deadline = time.monotonic() + timeout
        while True:
            if self._task is not None and self._task.done():
                self._task.result()  # re-raise the /sync loop's failure
                raise RuntimeError("/sync loop ended")
            missing = [b for b in bodies if b not in self.seen]
            if not missing:
                return max(self.seen[b] for b in bodies)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(missing)} of {len(bodies)} messages never arrived (first: {missing[0]!r})")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
            except TimeoutError:
                pass


# --------------------------------------------------------------------------
# one pair


@dataclass
class Figures:
    fill_seconds: float = 0.0
    join_seconds: float = 0.0
    ping_ms: list[float] = field(default_factory=list)
    burst_send_seconds: float = 0.0
    burst_seconds: float = 0.0
    receiver_cpu_ms_per_pdu: float = 0.0
    sender_cpu_ms_per_pdu: float = 0.0
    limited_syncs: int = 0


async def bench_pair(one: Any, two: Any, args: argparse.Namespace) -> Figures:
    fig = Figures()
    tag = uuid.uuid4().hex[:6]
    alice = await register(one.port, "alice")
    bob = await register(two.port, "bob")
    conn1, conn2 = Conn(one.port), Conn(two.port)
    try:
        room_id = (await conn1.json("POST", f"{CLIENT}/createRoom",
                                    {"preset": "public_chat", "visibility": "public", "name": "bench"},
                                    alice))["room_id"]
        t0 = time.monotonic()
        await fill_room(one.port, alice, room_id, args.state, args.messages, args.fill_connections)
        fig.fill_seconds = time.monotonic() - t0
        log(f"  filled {room_id}: {args.state} state events + {args.messages} messages "
            f"in {fig.fill_seconds:.1f}s")

        t0 = time.monotonic()
        status, payload = await conn2.request(
            "POST", f"{CLIENT}/join/{q(room_id)}?server_name={q(one.server_name)}", {}, bob)
        fig.join_seconds = time.monotonic() - t0
        if status != 200:
            raise RuntimeError(f"join via {one.server_name} -> {status} {payload[:500]!r}")
        log(f"  join: {fig.join_seconds:.2f}s")

        watcher = Watcher(two.port, bob, room_id, timeline_limit=max(args.burst, 50) + 50)
        await watcher.start()
        try:
            # Warm-up (not counted): the first event after the join, both servers' connections.
            await put_ok(conn1, f"{CLIENT}/rooms/{q(room_id)}/send/m.room.message/warm{tag}",
                         {"msgtype": "m.text", "body": f"warm {tag}"}, alice)
            await watcher.wait_all([f"warm {tag}"], args.timeout)

            for i in range(args.pings):
                body = f"ping {tag} {i}"
                t0 = time.monotonic()
                await put_ok(conn1, f"{CLIENT}/rooms/{q(room_id)}/send/m.room.message/ping{tag}{i}",
                             {"msgtype": "m.text", "body": body}, alice)
                seen = await watcher.wait_all([body], args.timeout)
                fig.ping_ms.append((seen - t0) * 1000)
            log(f"  pings: median {statistics.median(fig.ping_ms):.1f} ms")

            await asyncio.sleep(1.0)  # let both servers settle before the CPU readings
            bodies = [f"burst {tag} {i}" for i in range(args.burst)]
            cpu1, cpu2 = cpu_seconds(server_pid(one)), cpu_seconds(server_pid(two))
            t0 = time.monotonic()
            for i, body in enumerate(bodies):
                await put_ok(conn1, f"{CLIENT}/rooms/{q(room_id)}/send/m.room.message/burst{tag}{i}",
                             {"msgtype": "m.text", "body": body}, alice)
            fig.burst_send_seconds = time.monotonic() - t0
            last = await watcher.wait_all(bodies, args.timeout)
            fig.burst_seconds = last - t0
            fig.receiver_cpu_ms_per_pdu = (cpu_seconds(server_pid(two)) - cpu2) * 1000 / args.burst
            fig.sender_cpu_ms_per_pdu = (cpu_seconds(server_pid(one)) - cpu1) * 1000 / args.burst
            fig.limited_syncs = watcher.limited
            log(f"  burst: {args.burst} sent in {fig.burst_send_seconds:.2f}s, all seen after "
                f"{fig.burst_seconds:.2f}s")
        finally:
            await watcher.stop()
    finally:
        await conn1.close()
        await conn2.close()
    return fig


def run_pair(label: str, ca: TestCa, args: argparse.Namespace) -> Figures:
    if label == "ours":
        servers = [FederatingServer(ca, "a1"), FederatingServer(ca, "a2")]
    elif label == "synapse":
        servers = [SynapseProcess(ca), SynapseProcess(ca)]
    else:  # mixed: the same server 1 as the synapse pair, ours as server 2
        servers = [SynapseProcess(ca), FederatingServer(ca, "a2")]
    try:
        for server in servers:
            server.start()
        log(f"{label}: {servers[0].server_name} (1) and {servers[1].server_name} (2) up")
        return asyncio.run(bench_pair(servers[0], servers[1], args))
    except BaseException:
        for server in servers:
            if server.workdir is not None:
                sys.stderr.write(f"--- {label} {server.server_name} log tail:\n{server.log_tail(3000)}\n")
        raise
    finally:
        for server in servers:
            server.stop()


# --------------------------------------------------------------------------
# report

ROWS: list[tuple[str, str, Any]] = [
    # (metric, unit, figure getter); the ratio is ours / synapse whatever the direction.
    ("fill room (local sends/s)", "/s", lambda f, a: (a.state + a.messages) / f.fill_seconds),
    ("join: POST /join answer", "s", lambda f, a: f.join_seconds),
    ("ping latency, median", "ms", lambda f, a: statistics.median(f.ping_ms)),
    ("ping latency, p90", "ms", lambda f, a: sorted(f.ping_ms)[min(len(f.ping_ms) - 1, int(0.9 * len(f.ping_ms)))]),
    ("burst: time until all seen", "s", lambda f, a: f.burst_seconds),
    ("burst: delivery throughput", "ev/s", lambda f, a: a.burst / f.burst_seconds),
    ("burst: sender API rate", "ev/s", lambda f, a: a.burst / f.burst_send_seconds),
    ("CPU per received PDU (server 2)", "ms", lambda f, a: f.receiver_cpu_ms_per_pdu),
    ("CPU per sent event (server 1)", "ms", lambda f, a: f.sender_cpu_ms_per_pdu),
]


def report(results: dict[str, Figures], args: argparse.Namespace, versions: dict[str, str]) -> None:
    print()
    print("=" * WIDTH)
    print(f"nproc: {os.cpu_count()}  cpu: {cpu_model()}  python: {sys.version.split()[0]}  pinning: none "
          "(four server processes and the client share the machine)")
    for label, version in versions.items():
        print(f"{label}: {version}")
    print(f"room: {args.state} state events + {args.messages} messages; burst {args.burst}; pings {args.pings}; "
          "SQLite everywhere")
    print("-" * WIDTH)
    print(f"{'metric':<32}{'unit':>5}{'ours':>9}{'synapse':>9}{'ours/syn':>9}{'mixed':>9}{'mix/syn':>9}")
    for name, unit, get in ROWS:
        values = {label: get(fig, args) for label, fig in results.items()}

        cells = {label: f"{values[label]:9.2f}" if label in values else f"{'-':>9}" for label in PAIRS}
        rel = {label: f"{values[label] / values['synapse']:9.2f}" if label in values and values.get("synapse")
               else f"{'':>9}" for label in PAIRS}
        print(f"{name:<32}{unit:>5}{cells['ours']}{cells['synapse']}{rel['ours']}{cells['mixed']}{rel['mixed']}")
    print("-" * WIDTH)
    for label, fig in results.items():
        if fig.limited_syncs:
            print(f"NOTE: {label}: {fig.limited_syncs} /sync answers had a limited timeline (gap read from /messages)")
    print("ours = A1->A2, synapse = S1->S2, mixed = S1->A2 (Synapse's room and sender, our joiner/receiver).")
    print("ours/syn and mix/syn divide by the synapse pair: below 1 is better for times and CPU, above 1 for")
    print("rates. mix/syn isolates server 2 (join, receiving, CPU per received PDU); server 1 is Synapse in both.")
    print("=" * WIDTH)


def versions() -> dict[str, str]:
    import subprocess
    out = {}
    try:
        from importlib.metadata import version
        out["ours"] = f"homeserver {version('homeserver')}"
    except Exception:  # not installed as a distribution
        out["ours"] = "homeserver (source tree)"
    result = subprocess.run([str(SYNAPSE_PYTHON), "-c", "import synapse; print(synapse.__version__)"],
                            capture_output=True, text=True)
    out["synapse"] = f"Synapse {result.stdout.strip() or '?'} ({SYNAPSE_PYTHON})"
    return out


def main() -> None:
    args = ARGS
    labels = [label.strip() for label in args.pairs.split(",") if label.strip()]
    if not labels or set(labels) - set(PAIRS):
        sys.exit(f"--pairs: a comma-separated list of ours, synapse, mixed (got {args.pairs!r})")
    if {"synapse", "mixed"} & set(labels) and not SynapseProcess.available():
        sys.exit(f"Synapse is not installed at {SYNAPSE_PYTHON} (scripts/setup-env.sh test installs it; "
                 "--synapse-python or HOMESERVER_TEST_SYNAPSE_PYTHON points at another install)")
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    certs = Path(tempfile.mkdtemp(prefix="fedbench-certs-"))
    try:
        ca = TestCa(certs)
        results: dict[str, Figures] = {}
        for label in labels:
            results[label] = run_pair(label, ca, args)
        report(results, args, versions())
    finally:
        shutil.rmtree(certs, ignore_errors=True)


if __name__ == "__main__":
    main()
