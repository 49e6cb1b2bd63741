"""Helpers shared by the hand-run benchmarks in bench/ (see bench/README.md).

Server start/stop with CPU pinning, config generation and editing, shared-secret
registration, PostgreSQL scratch databases, process CPU time, and the frame every
benchmark runs in (each server in turn, on each engine, report even after an error),
with the figures' small helpers (percentile, ratio, notes). Only 127.0.0.1 is used.
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
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    if shutil.which("taskset") and can_pin():
        return ["taskset", "-c", str(cpu)]
    return []


def can_pin() -> bool:
    return (os.cpu_count() or 1) > max(SERVER_CPU, WRK_CPU)


def pin_load_generator() -> None:
    """This process is the load generator: keep it off the server's core."""
    if can_pin():
        os.sched_setaffinity(0, {WRK_CPU})


SERVER_NAME = "localhost"

# Rate limits high enough never to trigger during a run.
NO_LIMIT = {"per_second": 10000, "burst_count": 100000}
RATE_LIMITS = {
    "rc_login": {"address": NO_LIMIT, "account": NO_LIMIT, "failed_attempts": NO_LIMIT},
    "rc_registration": NO_LIMIT,
    "rc_message": NO_LIMIT,
    "rc_joins": {"local": NO_LIMIT, "remote": NO_LIMIT},
    "rc_joins_per_room": NO_LIMIT,
    "rc_invites": {"per_room": NO_LIMIT, "per_user": NO_LIMIT, "per_issuer": NO_LIMIT},
    "rc_room_creation": NO_LIMIT,
    "rc_presence": {"per_user": NO_LIMIT},
    "rc_key_requests": NO_LIMIT,
    "rc_media_create": NO_LIMIT,
}

STARTUP_TIMEOUT = 180.0  # seconds to wait for /_matrix/client/versions

PASSWORD = "bench-password-123"  # every benchmark user's
# Registration is setup, not measured: cheap password hashes keep it short on both servers.
OUR_EXTRA = {"password_config": {"argon2_opslimit": 1, "argon2_memlimit": 8192}}
SYNAPSE_EXTRA = {
    "bcrypt_rounds": 4,
}


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


def ensure_synapse_psycopg2() -> None:
    """Synapse's PostgreSQL driver (not installed with plain matrix-synapse)."""
    if run_quiet([str(SYNAPSE_PYTHON), "-c", "import psycopg2"]).returncode == 0:
        return
    log("installing psycopg2-binary into the Synapse venv")
    subprocess.run([str(SYNAPSE_PYTHON), "-m", "pip", "install", "-q", "psycopg2-binary"], check=True)


def client_listener(port: int, resource_options: dict | None = None, **listener_options) -> dict:
    """A plain-HTTP client API listener on 127.0.0.1, as both servers' configs spell it."""
    return {
        "port": port,
        "bind_addresses": [HOST],
        "type": "http",
        **listener_options,
        "resources": [{"names": ["client"], **(resource_options or {})}],
    }


def start_synapse(workdir_name: str = "synapse", database: dict | None = None, extra: dict | None = None) -> Server:
    """Generate a config, edit it (listener, database, rate limits, `extra`) and start Synapse.

    `database` is a Synapse-style `database` section; the default is SQLite in the work dir.
    """
    ensure_synapse_venv()
    if database and database.get("name") == "psycopg2":
        ensure_synapse_psycopg2()
    server = Server("synapse", fresh_workdir(workdir_name), port=free_port())
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
            "listeners": [client_listener(server.port, {"compress": False}, tls=False, x_forwarded=False)],
            "database": database
            or {"name": "sqlite3", "args": {"database": str(server.workdir / "homeserver.db")}},
            "enable_metrics": False,
            "report_stats": False,
            "trusted_key_servers": [],  # never reach out to any other server
            "suppress_key_server_warning": True,
            **RATE_LIMITS,
            **(extra or {}),
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


def start_ours(workdir_name: str = "ours", database: dict | None = None, extra: dict | None = None) -> Server:
    """Generate a config, edit it (listener, rate limits, `database` if given, `extra`) and start ours."""
    server = Server("ours", fresh_workdir(workdir_name), port=free_port())
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
            "listeners": [client_listener(server.port)],
            **({"database": database} if database else {}),
            **RATE_LIMITS,
            **(extra or {}),
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
    status, body = http_json("POST", url, registration_body(secret, body["nonce"], username, password))
    if status != 200 or "access_token" not in body:
        raise RuntimeError(f"{server.label}: POST register -> {status} {body}")
    return body["access_token"]


def registration_body(secret: str, nonce: str, username: str, password: str) -> dict:
    """The POST body of shared-secret registration of a non-admin user."""
    message = "\x00".join([nonce, username, password, "notadmin"]).encode()
    mac = hmac.new(secret.encode(), message, hashlib.sha1).hexdigest()
    return {"nonce": nonce, "username": username, "password": password, "admin": False, "mac": mac}


def login_body(username: str, password: str = PASSWORD) -> dict:
    """A password login, as a client signing in on a new device sends it."""
    return {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": username},
        "password": password,
        "initial_device_display_name": "bench",
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _cpu_seconds(match) -> float:
    """utime + stime, in seconds, summed over the live processes for which match(comm, pgrp) holds.

    A process's /proc/PID/stat counts all of its threads.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        head, tail = stat.rsplit(")", 1)
        fields = tail.split()  # after "pid (comm)": field 3 is fields[0]
        if match(head.split("(", 1)[1], int(fields[2])):  # comm, field 5 (pgrp)
            total += int(fields[11]) + int(fields[12])  # fields 14 and 15, utime and stime
    return total / ticks


def process_group_cpu_seconds(pgid: int) -> float:
    """CPU seconds of every live process in group `pgid`: a server started by Server.start (its
    own session) and anything it spawned."""
    return _cpu_seconds(lambda comm, pgrp: pgrp == pgid)


def postgres_cpu_seconds() -> float:
    """CPU seconds of all live PostgreSQL processes on the machine (other users' work included)."""
    return _cpu_seconds(lambda comm, pgrp: comm == "postgres")


# --------------------------------------------------------------------------
# PostgreSQL scratch databases (127.0.0.1:5432, user postgres, trust auth)

PG_HOST, PG_PORT, PG_USER = HOST, 5432, "postgres"


def _psql(sql: str) -> subprocess.CompletedProcess:
    return run_quiet(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", "postgres", "-v", "ON_ERROR_STOP=1",
         "-c", sql],
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        timeout=60,
    )


def create_pg_database(name: str) -> None:
    """A fresh, empty database with the encoding and collation Synapse insists on."""
    assert re.fullmatch(r"[a-z0-9_]+", name), name
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    result = _psql(f"CREATE DATABASE {name} ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0")
    if result.returncode != 0:
        raise RuntimeError(f"could not create PostgreSQL database {name}: {result.stderr.strip()}")


def drop_pg_database(name: str) -> None:
    assert re.fullmatch(r"[a-z0-9_]+", name), name
    result = _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if result.returncode != 0:
        log(f"WARNING: could not drop PostgreSQL database {name}: {result.stderr.strip()}")


def pg_database_config(name: str) -> dict:
    """A `database` config section both servers accept."""
    return {
        "name": "psycopg2",
        "args": {"user": PG_USER, "host": PG_HOST, "port": PG_PORT, "database": name, "cp_min": 5, "cp_max": 10},
    }


# --------------------------------------------------------------------------
# running a benchmark: each server in turn, on each engine

LABELS = ("ours", "synapse")  # report order; the servers run in this order, never both at once
ENGINES = ("sqlite", "postgres")
RUN_ID = str(os.getpid())  # keeps scratch database names apart from a concurrent run's
BUSY_THRESHOLD = 0.25


def server_config(server: Server) -> dict:
    return yaml.safe_load((server.workdir / "homeserver.yaml").read_text()) or {}


def registration_secret(server: Server) -> str:
    secret = server_config(server).get("registration_shared_secret")
    if not secret:
        raise RuntimeError(f"{server.label}: no registration_shared_secret in its config")
    return secret


def busy_notes(who: str) -> list[str]:
    """Logs how busy the machine is before `who` starts; a note for the report when it is too busy."""
    busy = cpu_busy()
    log(f"{who}: CPU busy before start: {busy:.0%}")
    if busy <= BUSY_THRESHOLD:
        return []
    log("WARNING: the machine is busy; other processes will skew the figures")
    return [f"{who}: machine {busy:.0%} busy before start"]


@contextmanager
def serving(
    label: str, workdir: str, engine: str = "sqlite", our_extra: dict | None = None, synapse_extra: dict | None = None
) -> Iterator[Server]:
    """Start `label` ("ours" or "synapse") in .work/`workdir` on `engine` (PostgreSQL: a scratch
    database, dropped afterwards); stop it when the block ends. A block that ends normally while
    the server has died raises, so that no figure of a crashed server is reported."""
    database, dbname = None, None
    if engine == "postgres":
        dbname = "bench_" + re.sub(r"[^a-z0-9]", "_", workdir.lower()) + f"_{RUN_ID}"
        create_pg_database(dbname)
        database = pg_database_config(dbname)
    server = None
    try:
        if label == "synapse":
            server = start_synapse(workdir, database, synapse_extra)
        else:
            server = start_ours(workdir, database, our_extra)
        yield server
        if server.proc is None or server.proc.poll() is not None:
            raise RuntimeError(f"{label} died during the run:\n{server.tail_log()}")
    finally:
        if server is not None:
            server.stop()
        if dbname:
            drop_pg_database(dbname)


def install_signal_handlers() -> None:
    """Ctrl-C and SIGTERM become exceptions, so that servers are stopped in `finally` blocks
    (SIGINT explicitly too: a shell's background job starts with it ignored)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def bench_parser(doc: str, quick_help: str | None = None, engines: bool = False) -> argparse.ArgumentParser:
    """A parser with the options the benchmarks share: --quick (for one with a smoke run), --only,
    and --engine (for one that runs on PostgreSQL too)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if quick_help:
        parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--only", choices=LABELS, help="bench one server only")
    if engines:
        parser.add_argument("--engine", choices=ENGINES, help="one database engine only")
    return parser


def fill_defaults(args: argparse.Namespace, quick: dict, full: dict) -> None:
    """Options left unset take the smoke run's default with --quick, else the full run's."""
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def clamp(args: argparse.Namespace, **bounds: tuple[float, float]) -> None:
    """Keeps each named option within its (lowest, highest)."""
    for key, (lowest, highest) in bounds.items():
        setattr(args, key, min(max(getattr(args, key), lowest), highest))


def chosen_labels(args) -> list[str]:
    return [args.only] if getattr(args, "only", None) else list(LABELS)


def chosen_engines(args) -> list[str]:
    return [args.engine] if getattr(args, "engine", None) else list(ENGINES)


def run_side_by_side(
    bench_server: Callable, args, report: Callable[[dict, dict[str, str]], None], engines: list[str] | None = None
) -> int:
    """Bench the chosen servers (`--only`, else ours then Synapse) one after the other, and print
    `report(results, versions)`; after an error or Ctrl-C, stop every server, and still report
    what was measured. Returns the process exit code.

    With `engines`: `bench_server(label, engine, args) -> (figures, version)` for each engine, and
    results are {engine: {label: figures}}; without: `bench_server(label, args)`, {label: figures}.
    """
    install_signal_handlers()
    labels = chosen_labels(args)
    results: dict = {}
    versions: dict[str, str] = {}
    try:
        if engines is None:
            for label in labels:
                results[label], versions[label] = bench_server(label, args)
        else:
            for engine in engines:
                results[engine] = {}
                for label in labels:
                    results[engine][label], versions[label] = bench_server(label, engine, args)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception as e:  # report, and still print what we have
        log(f"ERROR: {type(e).__name__}: {e}")
        measured = results if engines is None else {k: v for k, v in results.items() if v}
        if measured:
            report(measured, versions)
        return 1
    finally:
        stop_all()
    report(results, versions)
    return 0


# --------------------------------------------------------------------------
# figures and the report


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of already sorted values; 0 for none."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def per_second(count: float, seconds: float) -> float:
    return count / seconds if seconds else 0.0


def ratio(ours: float, synapse: float, higher_better: bool) -> float:
    """Above 1 when ours is better: ours/synapse for rates, synapse/ours for latency and CPU."""
    if not (ours and synapse):
        return float("nan")
    return ours / synapse if higher_better else synapse / ours


def ratio_cell(per_server: dict, get: Callable, higher_better: bool) -> str:
    """The ratio column of a report row: blank unless both servers were measured."""
    if "ours" not in per_server or "synapse" not in per_server:
        return ""
    return f"{ratio(get(per_server['ours']), get(per_server['synapse']), higher_better):8.2f}x"


def machine_line() -> str:
    pinning = "server CPU 0, load generator CPU 1" if can_pin() else "none"
    return (f"nproc: {os.cpu_count()}  cpu: {cpu_model()}  python: {platform.python_version()}"
            f"  pinning: {pinning}")


def print_versions(versions: dict[str, str]) -> None:
    for label, version in versions.items():
        print(f"{label}: {version}")


def print_header(width: int, versions: dict[str, str]) -> None:
    """The top of a report: the machine and each server's version."""
    print()
    print("=" * width)
    print(machine_line())
    print_versions(versions)


def print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"NOTE: {note}")


def print_footer(width: int, notes: list[str], explanation: str) -> None:
    """The bottom of a report: its notes and how to read its figures."""
    print("-" * width)
    print_notes(notes)
    print(explanation)
    print("=" * width)
