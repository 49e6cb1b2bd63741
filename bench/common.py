"""Helpers shared by the hand-run benchmarks in bench/ (see bench/README.md).

Server start/stop with CPU pinning, config generation and editing, shared-secret
registration, PostgreSQL scratch databases, process CPU time. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
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


def ensure_synapse_psycopg2() -> None:
    """Synapse's PostgreSQL driver (not installed with plain matrix-synapse)."""
    if run_quiet([str(SYNAPSE_PYTHON), "-c", "import psycopg2"]).returncode == 0:
        return
    log("installing psycopg2-binary into the Synapse venv")
    subprocess.run([str(SYNAPSE_PYTHON), "-m", "pip", "install", "-q", "psycopg2-binary"], check=True)


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
            "listeners": [
                {
                    "port": server.port,
                    "bind_addresses": [HOST],
                    "type": "http",
                    "resources": [{"names": ["client"]}],
                }
            ],
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
