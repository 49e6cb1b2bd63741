#!/usr/bin/env python3
"""Hand-run benchmark: our homeserver vs Synapse, login and whoami rates.

Both servers run on this machine, one after the other, on SQLite, bound to
127.0.0.1 only. Load comes from `wrk` (Debian package). See bench/README.md.

    .venv/bin/python bench/run_auth_bench.py [--duration 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work"
SYNAPSE_VENV = BENCH_DIR / ".venv-synapse"
SYNAPSE_PYTHON = SYNAPSE_VENV / "bin" / "python"
SYNAPSE_REQUIREMENT = "matrix-synapse==1.163.*"
OUR_PYTHON = REPO_DIR / ".venv" / "bin" / "python"

HOST = "127.0.0.1"  # the only address this benchmark ever talks to
# With two or more cores, the server runs on one and wrk on another, so neither steals the
# other's CPU and the figures vary less. Both servers get the same treatment.
SERVER_CPU, WRK_CPU = 0, 1


def pin(cpu: int) -> list[str]:
    """A taskset prefix pinning a command to `cpu`, when the machine has a spare core for it."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > max(SERVER_CPU, WRK_CPU):
        return ["taskset", "-c", str(cpu)]
    return []
SERVER_NAME = "localhost"
BENCH_USER = "benchuser"
BENCH_PASSWORD = "bench-password-123"

# Rate limits high enough never to trigger during a run.
NO_LIMIT = {"per_second": 10000, "burst_count": 100000}
RATE_LIMITS = {
    "rc_login": {"address": NO_LIMIT, "account": NO_LIMIT, "failed_attempts": NO_LIMIT},
    "rc_registration": NO_LIMIT,
    "rc_message": NO_LIMIT,
}

STARTUP_TIMEOUT = 180.0  # seconds to wait for /_matrix/client/versions


# --------------------------------------------------------------------------
# small helpers


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_json(
    method: str, url: str, body: dict | None = None, token: str | None = None, timeout: float = 30.0
) -> tuple[int, dict]:
    """One HTTP request with a JSON body; returns (status, decoded JSON or {})."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {"_raw": raw[:200].decode(errors="replace")}


def cpu_busy(seconds: float = 2.0) -> float:
    """Share of all CPUs that was not idle over the next few seconds (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def run_quiet(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


# --------------------------------------------------------------------------
# servers


@dataclass
class Server:
    label: str  # "ours" or "synapse"
    workdir: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    logfile: Path | None = None
    version: str = "?"

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.logfile = self.workdir / "server-stdout.log"
        out = open(self.logfile, "wb")
        log(f"{self.label}: starting: {' '.join(cmd)}")
        # New session so that stop() can kill the server and any children it made.
        self.proc = subprocess.Popen(
            [*pin(SERVER_CPU), *cmd],
            cwd=self.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        out.close()
        _running.append(self)
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited with code {self.proc.returncode} during "
                    f"startup; last log lines:\n{self.tail_log()}"
                )
            try:
                status, _ = http_json("GET", self.base + "/_matrix/client/versions", timeout=2)
                if status == 200:
                    log(f"{self.label}: up on {self.base}")
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(
            f"{self.label} did not answer /_matrix/client/versions within "
            f"{STARTUP_TIMEOUT:.0f}s; last log lines:\n{self.tail_log()}"
        )

    def tail_log(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            log(f"{self.label}: stopping (pid {self.proc.pid})")
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.proc = None
        if self in _running:
            _running.remove(self)


_running: list[Server] = []


def stop_all() -> None:
    for server in list(_running):
        server.stop()


def fresh_workdir(label: str) -> Path:
    path = WORK_DIR / label
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def edit_yaml(path: Path, changes: dict) -> None:
    config = yaml.safe_load(path.read_text()) or {}
    config.update(changes)
    # A JSON round trip makes every shared dict (NO_LIMIT) its own copy: no YAML anchors.
    path.write_text(yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False))


def ensure_synapse_venv() -> None:
    check = [str(SYNAPSE_PYTHON), "-c", "import synapse"]
    if SYNAPSE_PYTHON.exists() and run_quiet(check).returncode == 0:
        return
    log(f"creating {SYNAPSE_VENV} and installing {SYNAPSE_REQUIREMENT} (first run only)")
    subprocess.run(["python3", "-m", "venv", str(SYNAPSE_VENV)], check=True)
    subprocess.run([str(SYNAPSE_PYTHON), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(SYNAPSE_PYTHON), "-m", "pip", "install", "-q", SYNAPSE_REQUIREMENT], check=True)


def start_synapse() -> Server:
    ensure_synapse_venv()
    server = Server("synapse", fresh_workdir("synapse"), port=free_port())
    config = server.workdir / "homeserver.yaml"
    subprocess.run(
        [
            str(SYNAPSE_PYTHON),
            "-m",
            "synapse.app.homeserver",
            "--server-name",
            SERVER_NAME,
            "--config-path",
            str(config),
            "--generate-config",
            "--report-stats=no",
        ],
        cwd=server.workdir,
        check=True,
        capture_output=True,
    )
    edit_yaml(
        config,
        {
            "listeners": [
                {
                    "port": server.port,
                    "bind_addresses": [HOST],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(server.workdir / "homeserver.db")}},
            "enable_metrics": False,
            "report_stats": False,
            "trusted_key_servers": [],  # never reach out to any other server
            "suppress_key_server_warning": True,
            **RATE_LIMITS,
        },
    )
    # Not synapse.__version__: that asks git, and this venv sits inside our repo.
    server.version = run_quiet(
        [
            str(SYNAPSE_PYTHON),
            "-c",
            "from importlib.metadata import version; print(version('matrix-synapse'))",
        ]
    ).stdout.strip()
    server.start([str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "-c", str(config)])
    return server


def start_ours() -> Server:
    server = Server("ours", fresh_workdir("ours"), port=free_port())
    config = server.workdir / "homeserver.yaml"
    # Run in the work dir with the repo on PYTHONPATH, so `-m homeserver` finds the package
    # whether or not it is installed into .venv.
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    result = run_quiet(
        [
            str(OUR_PYTHON),
            "-m",
            "homeserver",
            "generate-config",
            "--server-name",
            SERVER_NAME,
            "--config-path",
            str(config),
        ],
        cwd=server.workdir,
        env=env,
    )
    if result.returncode != 0 or not config.exists():
        raise RuntimeError(
            f"our generate-config failed (code {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    edit_yaml(
        config,
        {
            "listeners": [
                {
                    "port": server.port,
                    "bind_addresses": [HOST],
                    "type": "http",
                    "resources": [{"names": ["client"]}],
                }
            ],
            **RATE_LIMITS,
        },
    )
    git = run_quiet(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"])
    server.version = "git " + (git.stdout.strip() if git.returncode == 0 else "(no commit)")
    server.start([str(OUR_PYTHON), "-m", "homeserver", "run", "-c", str(config)], env=env)
    return server


# --------------------------------------------------------------------------
# users


def register_user(server: Server, secret: str, username: str, password: str) -> str:
    """Shared-secret registration (the /_synapse/admin/v1/register API); returns an access token."""
    url = server.base + "/_synapse/admin/v1/register"
    status, body = http_json("GET", url)
    if status != 200 or "nonce" not in body:
        raise RuntimeError(f"{server.label}: GET register nonce -> {status} {body}")
    nonce = body["nonce"]
    message = "\x00".join([nonce, username, password, "notadmin"]).encode()
    mac = hmac.new(secret.encode(), message, hashlib.sha1).hexdigest()
    status, body = http_json(
        "POST",
        url,
        {
            "nonce": nonce,
            "username": username,
            "password": password,
            "admin": False,
            "mac": mac,
        },
    )
    if status != 200 or "access_token" not in body:
        raise RuntimeError(f"{server.label}: POST register -> {status} {body}")
    return body["access_token"]


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
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
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
