#!/usr/bin/env python3
"""Hand-run benchmark: what a user notices across servers (issue 15, "Speed"), ours vs Synapse.

Pairs of federating servers, one pair after the other (never two pairs at once): "ours" (two of
our server processes, A1 and A2) and "synapse" (two Synapse processes, S1 and S2); "mixed" (S1 ->
A2) on request. Each server has its own config, ports and SQLite database; the two of a pair
federate over TLS on 127.0.0.1 with the harness of tests/clients/federation_support.py. For each
pair, on fresh servers:

1. setup: alice and --remote-users users (u00...) register on server 1, each of those users
   uploads signed device keys (one device each); bob registers on server 2. alice creates a public
   room, the users join it, bob joins it over federation (?server_name=<server 1>).
2. message latency: alice (server 1) sends --pings messages one at a time, each once bob's
   long-polled /sync on server 2 has returned the previous one; from the start of alice's PUT to
   bob's /sync answer holding it.
3. typing latency: alice sets typing on, then off, --pings times each; from the start of alice's
   PUT /typing to bob's /sync answer whose m.typing shows the change.
4. /keys/query for the --remote-users users (all of server 1), by bob on server 2: the first query
   after the join (server 2 may have to ask server 1), then --queries repeated ones (the users share
   a room with bob, so a server that tracks remote device lists answers from its cache). Every
   answer must hold each user's device keys and no failures. CPU of both servers per repeated query.

--runs N repeats the whole thing N times, the pairs alternating (ours, synapse, ours, ...), and
reports the median over the runs and each run's ratio. See bench/README.md.

    .venv/bin/python bench/federation_users.py [--runs 3] [--pings 20] [--remote-users 50] [--queries 20]
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

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "bench")]

WIDTH = 96
PAIRS = ("ours", "synapse", "mixed")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="times to run every pair, alternating (3)")
    p.add_argument("--pings", type=int, default=20, help="messages, and typing on/off changes, timed one at a time (20)")
    p.add_argument("--remote-users", type=int, default=50, help="users on server 1 that bob queries keys for (50)")
    p.add_argument("--queries", type=int, default=20, help="repeated /keys/query requests (20)")
    p.add_argument("--pairs", default="ours,synapse",
                   help="comma-separated: ours (A1->A2), synapse (S1->S2), mixed (S1->A2) (ours,synapse)")
    p.add_argument("--synapse-python", help="Python of a Synapse install (default: .venv-synapse)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for any one arrival (60)")
    args = p.parse_args()
    if args.synapse_python:
        os.environ["HOMESERVER_TEST_SYNAPSE_PYTHON"] = args.synapse_python
    return args


ARGS = parse_args()

# After the argument parsing: federation_support reads HOMESERVER_TEST_SYNAPSE_PYTHON on import.
from client import CLIENT, Conn, q, run_pool  # noqa: E402
from common import cpu_model, log, percentile  # noqa: E402
from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key  # noqa: E402
from signedjson.sign import sign_json  # noqa: E402
from unpaddedbase64 import encode_base64  # noqa: E402

from tests.clients.federation_support import (  # noqa: E402
    SYNAPSE_PYTHON,
    FederatingServer,
    SynapseProcess,
    TestCa,
)


class BenchSynapse(SynapseProcess):
    """The tests' Synapse with cheap password hashes: registering the users is setup, not measured."""

    def _configure(self) -> None:
        super()._configure()
        config = yaml.safe_load(self.config_path.read_text())
        config["bcrypt_rounds"] = 4
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))


# --------------------------------------------------------------------------
# helpers


def keys_requests(server: Any) -> int:
    """How many federation requests for device keys (/user/keys/query, /user/devices/) `server` has
    logged so far (both servers log every request they answer, one line each)."""
    try:
        text = Path(server.log_path).read_text(errors="replace")
    except (OSError, TypeError):
        return 0
    return sum(1 for line in text.splitlines()
               if "/_matrix/federation/v1/user/keys/query" in line or "/_matrix/federation/v1/user/devices/" in line)


def cpu_seconds(server: Any) -> float:
    """utime + stime of the server's process (all its threads), from /proc/PID/stat."""
    proc = server._proc  # both harness classes keep their Popen there
    assert proc is not None and proc.poll() is None, "server not running"
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def register(conn: Conn, localpart: str) -> tuple[str, str, str]:
    """Open registration with the dummy stage; (user ID, access token, device ID)."""
    body = await conn.json("POST", f"{CLIENT}/register", {
        "username": localpart, "password": f"{localpart} password",
        "auth": {"type": "m.login.dummy"}, "inhibit_login": False})
    return body["user_id"], body["access_token"], body["device_id"]


def device_keys(user_id: str, device_id: str) -> dict:
    signing_key = generate_signing_key(device_id)
    return sign_json({
        "user_id": user_id, "device_id": device_id,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"curve25519:{device_id}": encode_base64(os.urandom(32)),
                 f"ed25519:{device_id}": encode_verify_key_base64(get_verify_key(signing_key))},
    }, user_id, signing_key)


class Watcher:
    """Long-polls /sync for one user in one room; records when each m.room.message body was first
    seen and every change of the room's typing users (time.monotonic())."""

    def __init__(self, port: int, token: str, room_id: str) -> None:
        self.port, self.token, self.room_id = port, token, room_id
        self.seen: dict[str, float] = {}
        self.typing: list[tuple[float, frozenset[str]]] = []
        self._changed = asyncio.Event()
        self._conn = Conn(port)
        self._since: str | None = None
        self._task: asyncio.Task | None = None
        self._filter = q(json.dumps({
            "room": {"rooms": [room_id], "timeline": {"limit": 50}, "state": {"lazy_load_members": True},
                     "ephemeral": {"types": ["m.typing"]}, "account_data": {"types": []}},
            "presence": {"types": []}, "account_data": {"types": []},
        }, separators=(",", ":")))

    async def start(self) -> None:
        body = await self._conn.json("GET", f"{CLIENT}/sync?timeout=0&filter={self._filter}", token=self.token)
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
            path = f"{CLIENT}/sync?timeout=30000&since={q(self._since)}&filter={self._filter}&set_presence=offline"
            body = await self._conn.json("GET", path, token=self.token)
            now = time.monotonic()
            self._since = body["next_batch"]
            room = body.get("rooms", {}).get("join", {}).get(self.room_id)
            if not room:
                continue
            for event in room.get("timeline", {}).get("events", []):
                if event.get("type") == "m.room.message":
                    text = event.get("content", {}).get("body")
                    if isinstance(text, str):
                        self.seen.setdefault(text, now)
            for event in room.get("ephemeral", {}).get("events", []):
                if event.get("type") == "m.typing":
                    self.typing.append((now, frozenset(event.get("content", {}).get("user_ids", []))))
            self._changed.set()

    async def _wait(self, what: str, found: Any, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while True:
            if self._task is not None and self._task.done():
                self._task.result()
                raise RuntimeError("/sync loop ended")
            when = found()
            if when is not None:
                return when
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what} never arrived")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
            except TimeoutError:
                pass

    async def message(self, text: str, timeout: float) -> float:
        return await self._wait(repr(text), lambda: self.seen.get(text), timeout)

    async def typing_state(self, user_id: str, typing: bool, after: int, timeout: float) -> float:
        """When an m.typing recorded after the first `after` ones first showed `user_id` (not) typing."""
        def found() -> float | None:
            for when, users in self.typing[after:]:
                if (user_id in users) == typing:
                    return when
            return None
        return await self._wait(f"typing={typing} of {user_id}", found, timeout)


# --------------------------------------------------------------------------
# one pair


@dataclass
class Figures:
    message_ms: list[float] = field(default_factory=list)
    typing_ms: list[float] = field(default_factory=list)
    keys_first_ms: float = 0.0
    keys_repeat_ms: list[float] = field(default_factory=list)
    keys_repeat_cpu2_ms: float = 0.0  # server 2 CPU per repeated query
    keys_repeat_cpu1_ms: float = 0.0  # server 1 CPU per repeated query
    keys_first_fed: int = 0  # federation key requests server 1 answered for the first query (and before it)
    keys_repeat_fed: int = 0  # ... during the repeated queries


async def bench_pair(one: Any, two: Any, args: argparse.Namespace) -> Figures:
    fig = Figures()
    tag = uuid.uuid4().hex[:6]
    conn1, conn2 = Conn(one.port), Conn(two.port)
    try:
        alice_id, alice, _ = await register(conn1, "alice")
        _, bob, _ = await register(conn2, "bob")

        async def remote_user(conn: Conn, i: int) -> tuple[str, str, str]:
            user_id, token, device_id = await register(conn, f"u{i:02d}")
            await conn.json("POST", f"{CLIENT}/keys/upload", {"device_keys": device_keys(user_id, device_id)}, token)
            return user_id, token, device_id

        users = await run_pool(one.port, [lambda c, i=i: remote_user(c, i) for i in range(args.remote_users)], 4)
        room_id = (await conn1.json("POST", f"{CLIENT}/createRoom",
                                    {"preset": "public_chat", "name": "bench"}, alice))["room_id"]
        await run_pool(one.port, [lambda c, t=t: c.json("POST", f"{CLIENT}/join/{q(room_id)}", {}, t)
                                  for _, t, _ in users], 4)
        await conn2.json("POST", f"{CLIENT}/join/{q(room_id)}?server_name={q(one.server_name)}", {}, bob)
        log(f"  setup: {len(users)} users with device keys on {one.server_name}, bob joined {room_id}")

        watcher = Watcher(two.port, bob, room_id)
        await watcher.start()
        try:
            # Warm-up (not counted): the first event and typing change after the join.
            await conn1.json("PUT", f"{CLIENT}/rooms/{q(room_id)}/send/m.room.message/warm{tag}",
                             {"msgtype": "m.text", "body": f"warm {tag}"}, alice)
            await watcher.message(f"warm {tag}", args.timeout)
            typing_path = f"{CLIENT}/rooms/{q(room_id)}/typing/{q(alice_id)}"
            for on in (True, False):
                mark = len(watcher.typing)
                await conn1.json("PUT", typing_path, {"typing": on, "timeout": 30000} if on else {"typing": False}, alice)
                await watcher.typing_state(alice_id, on, mark, args.timeout)

            for i in range(args.pings):
                text = f"ping {tag} {i}"
                t0 = time.monotonic()
                await conn1.json("PUT", f"{CLIENT}/rooms/{q(room_id)}/send/m.room.message/ping{tag}{i}",
                                 {"msgtype": "m.text", "body": text}, alice)
                fig.message_ms.append((await watcher.message(text, args.timeout) - t0) * 1000)
            log(f"  message: median {statistics.median(fig.message_ms):.1f} ms")

            for i in range(args.pings):
                on = i % 2 == 0
                mark = len(watcher.typing)
                t0 = time.monotonic()
                await conn1.json("PUT", typing_path, {"typing": on, "timeout": 30000} if on else {"typing": False}, alice)
                fig.typing_ms.append((await watcher.typing_state(alice_id, on, mark, args.timeout) - t0) * 1000)
            log(f"  typing: median {statistics.median(fig.typing_ms):.1f} ms")
        finally:
            await watcher.stop()

        expected = {user_id: device_id for user_id, _, device_id in users}
        query = {"device_keys": {user_id: [] for user_id in expected}, "timeout": 10000}

        async def keys_query() -> float:
            t0 = time.monotonic()
            answer = await conn2.json("POST", f"{CLIENT}/keys/query", query, bob)
            elapsed = (time.monotonic() - t0) * 1000
            got = answer.get("device_keys", {})
            missing = [u for u, d in expected.items() if d not in got.get(u, {})]
            if answer.get("failures") or missing:
                raise RuntimeError(f"/keys/query: failures {answer.get('failures')}, "
                                   f"{len(missing)} users without their device (first: {missing[:1]})")
            return elapsed

        fig.keys_first_ms = await keys_query()
        await asyncio.sleep(0.5)  # the log line of the last request may come just after its answer
        fig.keys_first_fed = keys_requests(one)
        cpu1, cpu2 = cpu_seconds(one), cpu_seconds(two)
        for _ in range(args.queries):
            fig.keys_repeat_ms.append(await keys_query())
        fig.keys_repeat_cpu1_ms = (cpu_seconds(one) - cpu1) * 1000 / args.queries
        fig.keys_repeat_cpu2_ms = (cpu_seconds(two) - cpu2) * 1000 / args.queries
        await asyncio.sleep(0.5)
        fig.keys_repeat_fed = keys_requests(one) - fig.keys_first_fed
        log(f"  /keys/query for {len(expected)} remote users: first {fig.keys_first_ms:.1f} ms, "
            f"repeated median {statistics.median(fig.keys_repeat_ms):.1f} ms; federation key requests to "
            f"server 1: {fig.keys_first_fed} up to the first, {fig.keys_repeat_fed} during the repeated ones")
    finally:
        await conn1.close()
        await conn2.close()
    return fig


def run_pair(label: str, ca: TestCa, args: argparse.Namespace) -> Figures:
    if label == "ours":
        servers = [FederatingServer(ca, "a1"), FederatingServer(ca, "a2")]
    elif label == "synapse":
        servers = [BenchSynapse(ca), BenchSynapse(ca)]
    else:  # mixed: Synapse as server 1, ours as server 2
        servers = [BenchSynapse(ca), FederatingServer(ca, "a2")]
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

ROWS: list[tuple[str, Any]] = [
    # (metric, figure getter); every figure is lower-is-better.
    ("message latency, median (ms)", lambda f: statistics.median(f.message_ms)),
    ("message latency, p90 (ms)", lambda f: percentile(sorted(f.message_ms), 90)),
    ("typing latency, median (ms)", lambda f: statistics.median(f.typing_ms)),
    ("typing latency, p90 (ms)", lambda f: percentile(sorted(f.typing_ms), 90)),
    ("/keys/query N remote, first (ms)", lambda f: f.keys_first_ms),
    ("/keys/query N remote, repeated median (ms)", lambda f: statistics.median(f.keys_repeat_ms)),
    ("  server 2 CPU per repeated query (ms)", lambda f: f.keys_repeat_cpu2_ms),
    ("  server 1 CPU per repeated query (ms)", lambda f: f.keys_repeat_cpu1_ms),
]


def report(results: dict[str, list[Figures]], args: argparse.Namespace) -> None:
    labels = [label for label in PAIRS if label in results]
    print()
    print("=" * WIDTH)
    print(f"nproc: {os.cpu_count()}  cpu: {cpu_model()}  python: {sys.version.split()[0]}  pinning: none")
    print(f"{versions()}")
    print(f"runs {args.runs}, pings {args.pings}, remote users {args.remote_users}, repeated queries {args.queries}; "
          "SQLite everywhere; figures are medians over the runs")
    print("-" * WIDTH)
    head = f"{'metric':<44}" + "".join(f"{label:>10}" for label in labels)
    others = [label for label in labels if label != "synapse"]
    if "synapse" in labels:
        head += "".join(f"{'syn/' + label[:4]:>10}" for label in others) + "   per-run syn/ours"
    print(head)
    for name, get in ROWS:
        per_run = {label: [get(fig) for fig in results[label]] for label in labels}
        medians = {label: statistics.median(values) for label, values in per_run.items()}
        line = f"{name.replace(' N ', f' {args.remote_users} '):<44}" + "".join(f"{medians[label]:10.2f}" for label in labels)
        if "synapse" in labels:
            line += "".join(f"{medians['synapse'] / medians[label]:9.2f}x" if medians[label] else f"{'-':>10}"
                            for label in others)
            if "ours" in labels:
                line += "   " + " ".join(f"{s / o:.2f}" if o else "-"
                                         for o, s in zip(per_run["ours"], per_run["synapse"], strict=True))
        print(line)
    print("-" * WIDTH)
    for label in labels:
        first = [fig.keys_first_fed for fig in results[label]]
        repeat = [fig.keys_repeat_fed for fig in results[label]]
        print(f"{label}: federation key requests (/user/keys/query, /user/devices) server 1 answered, per run: "
              f"up to the first query {first}, during the {args.queries} repeated ones {repeat}")
    print("ours = A1->A2, synapse = S1->S2, mixed = S1->A2. Every figure is lower-is-better; syn/ours above 1")
    print("means ours is better. The machine is shared: compare the ratios, and across runs.")
    print("=" * WIDTH)


def versions() -> str:
    import subprocess
    result = subprocess.run([str(SYNAPSE_PYTHON), "-c", "import synapse; print(synapse.__version__)"],
                            capture_output=True, text=True)
    commit = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return f"ours: git {commit or '?'}; synapse: {result.stdout.strip() or '?'} ({SYNAPSE_PYTHON})"


def main() -> None:
    args = ARGS
    labels = [label.strip() for label in args.pairs.split(",") if label.strip()]
    if not labels or set(labels) - set(PAIRS):
        sys.exit(f"--pairs: a comma-separated list of {', '.join(PAIRS)} (got {args.pairs!r})")
    if {"synapse", "mixed"} & set(labels) and not SynapseProcess.available():
        sys.exit(f"Synapse is not installed at {SYNAPSE_PYTHON} (scripts/setup-env.sh test installs it; "
                 "--synapse-python or HOMESERVER_TEST_SYNAPSE_PYTHON points at another install)")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    certs = Path(tempfile.mkdtemp(prefix="fedusers-certs-"))
    try:
        ca = TestCa(certs)
        results: dict[str, list[Figures]] = {label: [] for label in labels}
        for run in range(args.runs):
            for label in labels:
                log(f"run {run + 1}/{args.runs}, {label}")
                results[label].append(run_pair(label, ca, args))
        report(results, args)
    finally:
        shutil.rmtree(certs, ignore_errors=True)


if __name__ == "__main__":
    main()
