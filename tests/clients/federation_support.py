"""Real server processes that federate over TLS on loopback: ours (``FederatingServer``) and
Synapse (``SynapseProcess``), with certificates made by the test and matrix-nio helpers.

Each server is named ``127.0.0.1:PORT`` after its federation listener (an IP literal with an
explicit port: discovery goes straight there, no DNS, no .well-known). One throw-away CA signs
every server's certificate (valid for the IP address 127.0.0.1); each server trusts that CA for
outgoing federation (``federation_custom_ca_list``) and has loopback whitelisted
(``ip_range_whitelist``), which outgoing federation otherwise refuses."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    RegisterResponse,
    RoomMessagesResponse,
    RoomSendResponse,
)

from tests.clients.nio_support import NioTestCase
from tests.clients.server_process import (
    HOST,
    REPO_ROOT,
    STOP_GRACE_S,
    ServerProcess,
    ServerStartError,
    free_port,
)

# How long a test waits for an event to cross from one server to the other. Generous: a first
# request between two servers fetches keys, and a retry after a failure waits 10 s.
ARRIVAL_TIMEOUT_S = 60.0
POLL_S = 0.2

SYNAPSE_VENV = REPO_ROOT / ".venv-synapse"
SYNAPSE_PYTHON = Path(os.environ.get("HOMESERVER_TEST_SYNAPSE_PYTHON", SYNAPSE_VENV / "bin" / "python"))


class TestCa:
    """A CA and certificates it signs, written as PEM files into ``directory``."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "homeserver federation test CA")])
        now = datetime.datetime.now(datetime.UTC)
        self._name = name
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.ca_path = directory / "ca.pem"
        self.ca_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, ip: str = HOST) -> tuple[Path, Path]:
        """A certificate for the IP address ``ip``; returns (certificate path, key path)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                  x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert_path = self.directory / f"{name}.crt"
        key_path = self.directory / f"{name}.key"
        # The chain: the server's certificate, then the CA's.
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                              + self._cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()))
        return cert_path, key_path


class FederatingServer(ServerProcess):
    """Our server with a client listener (HTTP) and a federation listener (TLS), named
    ``127.0.0.1:<federation port>``."""

    def __init__(self, ca: TestCa, label: str, overrides: dict[str, Any] | None = None):
        super().__init__(overrides)
        self.ca = ca
        self.label = label
        self.federation_port = free_port()
        self.server_name = f"{HOST}:{self.federation_port}"

    def _generate_config(self) -> None:
        assert self.config_path is not None
        result = subprocess.run(
            [sys.executable, "-m", "homeserver", "generate-config",
             "--server-name", self.server_name, "--config-path", str(self.config_path)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        )
        if result.returncode != 0 or not self.config_path.exists():
            raise ServerStartError(f"generate-config failed (exit {result.returncode}):\n"
                                   f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        with open(self.config_path, encoding="utf-8") as f:
            self.config = yaml.safe_load(f) or {}

    def _write_config(self) -> None:
        cert, key = self.ca.issue(self.label)
        self.overrides = {
            "enable_registration": True,
            "enable_registration_without_verification": True,
            "tls_certificate_path": str(cert),
            "tls_private_key_path": str(key),
            "federation_verify_certificates": True,
            "federation_custom_ca_list": [str(self.ca.ca_path)],
            "ip_range_whitelist": ["127.0.0.0/8"],
            **self.overrides,
        }
        super()._write_config()
        assert self.config_path is not None
        self.config["listeners"].append({
            "port": self.federation_port,
            "bind_addresses": [HOST],
            "type": "http",
            "tls": True,
            "resources": [{"names": ["federation"]}],
        })
        with open(self.config_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(self.config, f, sort_keys=False)


class SynapseProcess:
    """Synapse from its own venv (scripts/setup-env.sh test installs it into .venv-synapse), with
    a config generated by Synapse itself and then edited: a client listener (HTTP), a federation
    listener (TLS, certificate from ``ca``), SQLite, open registration, no rate limits that bite,
    no notary, loopback allowed for outgoing federation."""

    def __init__(self, ca: TestCa):
        self.ca = ca
        self.port = free_port()
        self.federation_port = free_port()
        self.server_name = f"{HOST}:{self.federation_port}"
        self.workdir: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen | None = None
        self._out = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @staticmethod
    def available() -> bool:
        return SYNAPSE_PYTHON.exists()

    def start(self) -> SynapseProcess:
        self.workdir = Path(tempfile.mkdtemp(prefix="synapse-test-"))
        try:
            self._configure()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def _configure(self) -> None:
        assert self.workdir is not None
        config_path = self.workdir / "homeserver.yaml"
        result = subprocess.run(
            [str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "--server-name", self.server_name,
             "--config-path", str(config_path), "--data-directory", str(self.workdir),
             "--generate-config", "--report-stats=no"],
            cwd=self.workdir, capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise ServerStartError(f"Synapse generate-config failed: {result.stdout[-3000:]}{result.stderr[-3000:]}")
        config = yaml.safe_load(config_path.read_text())
        cert, key = self.ca.issue("synapse")
        unlimited = {"per_second": 1000, "burst_count": 10000}
        self.log_path = self.workdir / "homeserver.log"
        log_config = self.workdir / "log.yaml"
        log_config.write_text(yaml.safe_dump({
            "version": 1,
            "formatters": {"precise": {"format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                                                 "%(request)s - %(message)s"}},
            "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter", "request": ""}},
            "handlers": {"file": {"class": "logging.FileHandler", "formatter": "precise",
                                  "filename": str(self.log_path), "filters": ["context"]}},
            "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }))
        config.update({
            "listeners": [
                {"port": self.port, "bind_addresses": [HOST], "type": "http", "tls": False,
                 "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]},
                {"port": self.federation_port, "bind_addresses": [HOST], "type": "http", "tls": True,
                 "resources": [{"names": ["federation"], "compress": False}]},
            ],
            "tls_certificate_path": str(cert),
            "tls_private_key_path": str(key),
            "database": {"name": "sqlite3", "args": {"database": str(self.workdir / "homeserver.db")}},
            "log_config": str(log_config),
            "enable_registration": True,
            "enable_registration_without_verification": True,
            "federation_verify_certificates": True,
            "federation_custom_ca_list": [str(self.ca.ca_path)],
            "ip_range_whitelist": ["127.0.0.0/8"],
            # Synapse checks a destination that is an IP literal against its federation blocklist
            # alone (ip_range_whitelist is not consulted there): empty it, loopback is all we use.
            "federation_ip_range_blacklist": [],
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "report_stats": False,
            "rc_message": unlimited,
            "rc_registration": unlimited,
            "rc_login": {"address": unlimited, "account": unlimited, "failed_attempts": unlimited},
            "rc_joins": {"local": unlimited, "remote": unlimited},
            "rc_joins_per_room": unlimited,
            "rc_invites": {"per_room": unlimited, "per_user": unlimited, "per_issuer": unlimited},
            "rc_federation": {"window_size": 1000, "sleep_limit": 1000, "sleep_delay": 1,
                              "reject_limit": 1000, "concurrent": 100},
            "federation_rr_transactions_per_room_per_second": 1000,
        })
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.config_path = config_path

    def _launch(self) -> None:
        assert self.workdir is not None
        self._out = open(self.workdir / "stdout.log", "ab")
        self._proc = subprocess.Popen(
            [str(SYNAPSE_PYTHON), "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        last = "no attempt"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerStartError(f"Synapse exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/_matrix/client/versions", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError) as e:
                last = repr(e)
            time.sleep(0.2)
        raise ServerStartError(f"Synapse did not start ({last}):\n{self.log_tail()}")

    def kill_hard(self) -> None:
        """SIGKILL, as a crash would; the data stays for relaunch()."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_GRACE_S)
        if self._out is not None:
            self._out.close()
            self._out = None

    def relaunch(self) -> None:
        self._launch()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_GRACE_S)
        if self._out is not None:
            self._out.close()
            self._out = None
        if self.workdir is not None:
            workdir, self.workdir = self.workdir, None
            if os.environ.get("HOMESERVER_TEST_KEEP_TMP"):
                sys.stderr.write(f"keeping Synapse temp dir {workdir}\n")
            else:
                shutil.rmtree(workdir, ignore_errors=True)

    def log_tail(self, max_chars: int = 6000) -> str:
        text = ""
        for path in (self.workdir / "stdout.log" if self.workdir else None, self.log_path):
            if path is not None and path.exists():
                text += path.read_text(errors="replace")[-max_chars:]
        return text or "(no log)"


class FederationTestCase(NioTestCase):
    """Owns the CA, the servers (ours and Synapse) and the nio clients of a federation test."""

    def setUp(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix="fed-test-certs-"))
        self.addCleanup(shutil.rmtree, directory, True)
        self.ca = TestCa(directory)
        self._servers: list[Any] = []

    def our_server(self, label: str, overrides: dict[str, Any] | None = None) -> FederatingServer:
        """Our server, not started yet (start_all)."""
        return FederatingServer(self.ca, label, overrides)

    def synapse_server(self) -> SynapseProcess:
        return SynapseProcess(self.ca)

    def start_all(self, *servers: Any) -> None:
        """Start the servers side by side (each takes seconds), stopping them all at the end."""
        for server in servers:
            self.addCleanup(server.stop)
            self._servers.append(server)
        with ThreadPoolExecutor(len(servers)) as pool:
            for future in [pool.submit(server.start) for server in servers]:
                future.result()

    def client_for(self, server: Any, localpart: str) -> AsyncClient:
        config = AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False,
                                   max_limit_exceeded=0, max_timeouts=1, request_timeout=30)
        client = AsyncClient(server.base_url, f"@{localpart}:{server.server_name}", config=config)
        self._nio_clients.append(client)
        return client

    async def register_on(self, server: Any, localpart: str) -> AsyncClient:
        client = self.client_for(server, localpart)
        resp = await client.register(localpart, f"{localpart} password")
        self.assert_nio_ok(resp, RegisterResponse, f"register {localpart} on {server.server_name}")
        return client

    async def send_text(self, client: AsyncClient, room_id: str, body: str) -> str:
        resp = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
        self.assert_nio_ok(resp, RoomSendResponse, f"{client.user_id} sends {body!r}")
        return resp.event_id

    async def join_via(self, client: AsyncClient, room_id: str, server_name: str) -> str:
        """POST /join/{roomId}?server_name=... (nio's join() has no server_name)."""
        from urllib.parse import quote
        status, body = await self.raw(
            client, "POST",
            f"/_matrix/client/v3/join/{quote(room_id, safe='')}?server_name={quote(server_name, safe='')}", {})
        self.assertEqual(status, 200, f"{client.user_id} joins {room_id} via {server_name}: {status} {body!r}")
        return body["room_id"]

    async def join(self, client: AsyncClient, room_id: str) -> None:
        resp = await client.join(room_id)
        self.assert_nio_ok(resp, JoinResponse, f"{client.user_id} joins {room_id}")

    async def timeline(self, client: AsyncClient, room_id: str) -> list[dict[str, Any]]:
        """The room's events as the client sees them, oldest first (all pages of /messages)."""
        events: list[dict[str, Any]] = []
        start = ""
        for _ in range(50):
            resp = await client.room_messages(room_id, start, limit=100)
            self.assert_nio_ok(resp, RoomMessagesResponse, f"{client.user_id} /messages in {room_id}")
            events.extend(e.source for e in resp.chunk)
            if not resp.chunk or not resp.end:
                break
            start = resp.end
        return list(reversed(events))

    async def texts(self, client: AsyncClient, room_id: str) -> list[str]:
        return [e["content"].get("body") for e in await self.timeline(client, room_id)
                if e.get("type") == "m.room.message"]

    async def wait_for(self, what: str, check: Callable[[], Awaitable[Any]],
                       timeout: float = ARRIVAL_TIMEOUT_S) -> Any:
        """Poll ``check`` until it returns something truthy; fail with ``what`` and the last value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = await check()
            if last:
                return last
            await asyncio.sleep(POLL_S)
        raise self.failureException(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")

    async def wait_texts(self, client: AsyncClient, room_id: str, expected: list[str],
                         timeout: float = ARRIVAL_TIMEOUT_S) -> list[str]:
        """Wait until the room's text messages, as ``client`` sees them, end with ``expected``."""
        async def check() -> Any:
            got = await self.texts(client, room_id)
            return got if got[-len(expected):] == expected else None

        try:
            return await self.wait_for(f"{expected} at {client.user_id}", check, timeout)
        except self.failureException:
            got = await self.texts(client, room_id)
            raise self.failureException(
                f"{client.user_id} in {room_id}: expected the messages to end with {expected}, got {got}"
            ) from None

    async def membership_seen(self, client: AsyncClient, room_id: str, user: str) -> str | None:
        resp = await client.room_get_state_event(room_id, "m.room.member", user)
        content = getattr(resp, "content", None)
        return content.get("membership") if isinstance(content, dict) else None
