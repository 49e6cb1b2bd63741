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
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from common import (
    HOST,
    PASSWORD,
    SERVER_NAME,
    WRK_CPU,
    Server,
    bench_parser,
    busy_notes,
    clamp,
    cpu_model,
    http_json,
    log,
    login_body,
    pin,
    print_versions,
    ratio,
    register_user,
    registration_secret,
    run_quiet,
    run_side_by_side,
    server_config,
    serving,
)

BENCH_USER = "benchuser"


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


def sanity_check(server: Server, token: str) -> None:
    """One login and one whoami by hand, checked for 200 and the right user."""
    expected = f"@{BENCH_USER}:{SERVER_NAME}"
    status, body = http_json(
        "POST", server.base + "/_matrix/client/v3/login", login_body(BENCH_USER)
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
    busy_notes(label)  # logged; this report has no notes
    with serving(label, label) as server:
        token = register_user(server, registration_secret(server), BENCH_USER, PASSWORD)
        sanity_check(server, token)

        login_lua = write_lua(server.workdir / "login.lua", "POST", login_body(BENCH_USER), None)
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
    return results, f"{server.version}, password hash {password_scheme(server, server_config(server))}"


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
    print_versions(versions)
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
            parts.append(f"ratio {ratio(results['ours'][name].rps, results['synapse'][name].rps, True):.2f}x")
        print("  ".join(parts))
    print("=" * 78)


def main() -> int:
    parser = bench_parser(__doc__)
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
    args = parser.parse_args()
    clamp(args, duration=(1, 300), warmup=(0, 60))

    ensure_wrk()
    return run_side_by_side(bench_server, args, lambda results, versions: print_report(results, versions, args))


if __name__ == "__main__":
    sys.exit(main())
