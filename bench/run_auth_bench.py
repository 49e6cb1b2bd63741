#!/usr/bin/env python3
"""Hand-run benchmark: our homeserver vs Synapse, login and whoami rates.

Both servers run on this machine, one after the other, on SQLite, bound to
127.0.0.1 only. Load comes from `wrk` (Debian package). See bench/README.md.

    .venv/bin/python bench/run_auth_bench.py [--duration 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from common import (
    HOST,
    SERVER_NAME,
    WRK_CPU,
    Server,
    cpu_busy,
    cpu_model,
    http_json,
    log,
    pin,
    register_user,
    run_quiet,
    start_ours,
    start_synapse,
    stop_all,
)

BENCH_USER = "benchuser"
BENCH_PASSWORD = "bench-password-123"


def password_scheme(server: Server, config: dict) -> str:
    """The stored password hash of the bench user, without salt and digest, e.g. "$2b$12"."""
    try:
        db = Path(config["database"]["args"]["database"])
        db = db if db.is_absolute() else server.workdir / db
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            (stored,) = conn.execute(
                "SELECT password_hash FROM users WHERE password_hash IS NOT NULL LIMIT 1"
            ).fetchone()  # the fresh database holds the bench user only
    except Exception:  # only informative: never fail the run over it
        return "?"
    parts = stored.split("$")
    keep = 4 if parts[1].startswith("argon2") else 3  # argon2: $id$v$params$salt$hash
    return "$".join(parts[:keep])


def login_body(username: str, password: str) -> dict:
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": username},
        "password": password,
        "initial_device_display_name": "bench",
    }


def sanity_check(server: Server, token: str) -> None:
    """One login and one whoami by hand, checked for 200 and the right user."""
    expected = f"@{BENCH_USER}:{SERVER_NAME}"
    status, body = http_json(
        "POST", server.base + "/_matrix/client/v3/login", login_body(BENCH_USER, BENCH_PASSWORD)
    )
    if status != 200 or body.get("user_id") != expected or not body.get("access_token"):
        raise RuntimeError(f"{server.label}: login check -> {status} {body}")
    status, body = http_json("GET", server.base + "/_matrix/client/v3/account/whoami", token=token)
    if status != 200 or body.get("user_id") != expected:
        raise RuntimeError(f"{server.label}: whoami check -> {status} {body}")


# --------------------------------------------------------------------------
# load generation with wrk

# The Lua script only sets the request. It has no response() callback: with one, wrk runs Lua
# for every response and becomes the bottleneck. wrk itself counts non-2xx/3xx answers.
LUA_TEMPLATE = """\
wrk.method = "{method}"
{body_line}
{header_lines}
"""


def lua_string(text: str) -> str:
    """A Lua long-bracket string literal, spaced so it is also safe inside [ ]."""
    return " [==[" + text + "]==] "


def write_lua(path: Path, method: str, body: dict | None, token: str | None) -> Path:
    headers = {}
    body_line = ""
    if body is not None:
        body_line = "wrk.body = " + lua_string(json.dumps(body))
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    header_lines = "\n".join(f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
    path.write_text(LUA_TEMPLATE.format(method=method, body_line=body_line, header_lines=header_lines))
    return path


@dataclass
class WrkResult:
    rps: float
    requests: int
    bad: int = 0  # responses that were not 2xx or 3xx
    socket_errors: str = ""
    latency_avg: str = "?"


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    log("wrk not found; installing the Debian package")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)
    path = shutil.which("wrk")
    if not path:
        raise RuntimeError("wrk is not available and could not be installed")
    return path


def run_wrk(url: str, script: Path, connections: int, threads: int, seconds: float) -> WrkResult:
    assert url.startswith(f"http://{HOST}:"), url
    threads = max(1, min(threads, connections))
    cmd = [
        *pin(WRK_CPU),
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        url,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90)
    out = result.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if result.returncode != 0 or not rps or result.stderr.strip():  # e.g. a Lua script error
        raise RuntimeError(f"wrk failed (code {result.returncode}):\n{out}{result.stderr}")
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors:.*", out)
    latency = re.search(r"Latency\s+(\S+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return WrkResult(
        rps=float(rps.group(1)),
        requests=int(total.group(1)) if total else 0,
        bad=int(bad.group(1)) if bad else 0,
        socket_errors=errors.group(0) if errors else "",
        latency_avg=latency.group(1) if latency else "?",
    )


def measure(
    server: Server,
    name: str,
    path: str,
    script: Path,
    connections: int,
    threads: int,
    duration: float,
    warmup: float,
) -> WrkResult:
    url = server.base + path
    if warmup > 0:
        log(f"{server.label} {name}: warm-up {warmup:.0f}s on {connections} connections")
        run_wrk(url, script, connections, threads, warmup)
    log(f"{server.label} {name}: measuring {duration:.0f}s on {connections} connections")
    res = run_wrk(url, script, connections, threads, duration)
    log(
        f"{server.label} {name}: {res.rps:.1f} req/s, {res.requests} requests, "
        f"avg latency {res.latency_avg}, non-2xx: {res.bad}"
    )
    if res.bad:
        log(f"WARNING: {server.label} {name}: {res.bad} non-200 responses")
    if res.socket_errors:
        log(f"WARNING: {server.label} {name}: {res.socket_errors}")
    return res


# --------------------------------------------------------------------------
# one server, start to finish


def bench_server(label: str, args: argparse.Namespace) -> tuple[dict[str, WrkResult], str]:
    busy = cpu_busy()
    log(f"{label}: CPU busy before start: {busy:.0%}")
    if busy > 0.25:
        log("WARNING: the machine is busy; other processes will skew the figures")
    server = start_synapse() if label == "synapse" else start_ours()
    try:
        config = yaml.safe_load((server.workdir / "homeserver.yaml").read_text())
        secret = config.get("registration_shared_secret")
        if not secret:
            raise RuntimeError(f"{label}: no registration_shared_secret in its config")
        token = register_user(server, secret, BENCH_USER, BENCH_PASSWORD)
        sanity_check(server, token)

        login_lua = write_lua(
            server.workdir / "login.lua", "POST", login_body(BENCH_USER, BENCH_PASSWORD), None
        )
        whoami_lua = write_lua(server.workdir / "whoami.lua", "GET", None, token)
        results = {
            "login": measure(
                server,
                "login",
                "/_matrix/client/v3/login",
                login_lua,
                args.login_connections,
                args.threads,
                args.duration,
                args.warmup,
            ),
            "whoami": measure(
                server,
                "whoami",
                "/_matrix/client/v3/account/whoami",
                whoami_lua,
                args.connections,
                args.threads,
                args.duration,
                args.warmup,
            ),
        }
        if server.proc is None or server.proc.poll() is not None:
            raise RuntimeError(f"{label} died during the run:\n{server.tail_log()}")
        return results, f"{server.version}, password hash {password_scheme(server, config)}"
    finally:
        server.stop()


# --------------------------------------------------------------------------
# report


def machine_info() -> list[str]:
    cpu = cpu_model()
    wrk_lines = run_quiet(["wrk", "-v"]).stdout.splitlines()
    wrk_version = wrk_lines[0].split(" [")[0] if wrk_lines else "wrk ?"
    return [
        f"nproc: {len(os.sched_getaffinity(0))}  cpu: {cpu}",
        f"python: {platform.python_version()}  {wrk_version}",
    ]


def print_report(
    results: dict[str, dict[str, WrkResult]], versions: dict[str, str], args: argparse.Namespace
) -> None:
    print()
    print("=" * 78)
    for line in machine_info():
        print(line)
    for label, version in versions.items():
        print(f"{label}: {version}")
    print(
        f"duration {args.duration:.0f}s per figure (after {args.warmup:.0f}s warm-up), "
        f"whoami on {args.connections} connections, login on {args.login_connections}, "
        f"wrk threads {args.threads}, SQLite, 127.0.0.1"
    )
    print("-" * 78)
    for name in ("login", "whoami"):
        parts = [f"{name:7s}"]
        for label in ("ours", "synapse"):
            if label in results:
                res = results[label][name]
                flag = f" ({res.bad} non-200!)" if res.bad else ""
                parts.append(f"{label} {res.rps:9.1f} req/s{flag}")
        if "ours" in results and "synapse" in results:
            theirs = results["synapse"][name].rps
            ratio = results["ours"][name].rps / theirs if theirs else float("inf")
            parts.append(f"ratio {ratio:.2f}x")
        print("  ".join(parts))
    print("=" * 78)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="connections for whoami (default 32)")
    parser.add_argument(
        "--login-connections",
        type=int,
        default=8,
        help="connections for login, which is CPU-heavy (default 8)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--warmup", type=float, default=3, help="warm-up seconds before each figure (default 3)"
    )
    parser.add_argument("--only", choices=["ours", "synapse"], help="bench one server only")
    args = parser.parse_args()
    args.duration = min(max(args.duration, 1), 300)
    args.warmup = min(max(args.warmup, 0), 60)

    # Ctrl-C and SIGTERM become exceptions, so the servers are stopped in the finally below
    # (SIGINT explicitly too: a shell's background job starts with it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    ensure_wrk()
    labels = [args.only] if args.only else ["ours", "synapse"]
    results: dict[str, dict[str, WrkResult]] = {}
    versions: dict[str, str] = {}
    try:
        for label in labels:  # one after the other, never both at once
            results[label], versions[label] = bench_server(label, args)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception as e:  # report, and still print what we have
        log(f"ERROR: {e}")
        if results:
            print_report(results, versions, args)
        return 1
    finally:
        stop_all()
    print_report(results, versions, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
