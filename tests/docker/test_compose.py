"""The docker compose stack (docker/docker-compose.yml), really built and run: PostgreSQL, the
homeserver image with its web client, and coturn.

Skipped unless HOMESERVER_TEST_DOCKER=1 (scripts/run-tests.sh sets it for this module after the
other suites). It runs ../shared/tools/docker-setup.sh (or $HOMESERVER_DOCKER_SETUP), builds the
images with docker-compose.local.yml (PostgreSQL and coturn from Debian packages: no registry is
reachable here), brings the stack up under its own project name on free host ports, and:
registers users over HTTP at the web client's origin and with `register-user` in the container,
sends a message, takes the stack down and up again (volumes kept) and reads the message back,
allocates a TURN relay from coturn with the credentials from /voip/turnServer, and finally
removes the containers, network and volumes it made (`down -v`). Images are kept, so that the
next run builds from cache (the untagged ones a rebuild replaced are pruned). The tests run in
name order and share one stack.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import random
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from twisted.trial import unittest

from tests.docker.turn import TurnClient, TurnError

ENABLE_ENV = "HOMESERVER_TEST_DOCKER"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKER_DIR = os.path.join(REPO, "docker")
SETUP_SCRIPT = os.environ.get("HOMESERVER_DOCKER_SETUP") or os.path.join(
    REPO, "..", "shared", "tools", "docker-setup.sh")
SERVER_NAME = "compose.test"
IMAGE = "homeserver:compose-test"


def _volumes() -> set[str]:
    result = subprocess.run(["docker", "volume", "ls", "-q"], capture_output=True, text=True, timeout=60)
    return set(result.stdout.split())


def _free_port(*kinds: int) -> int:
    """A port free for every socket kind given (TCP and UDP for TURN), away from the usual ones."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        socks = []
        try:
            for kind in kinds:
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("0.0.0.0", port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port")


class Stack:
    """One compose project: started once by the first test, removed by the last (or at exit)."""

    def __init__(self) -> None:
        self.project = f"hstest-{os.getpid()}"
        self.http_port = _free_port(socket.SOCK_STREAM)
        self.turn_port = _free_port(socket.SOCK_STREAM, socket.SOCK_DGRAM)
        relay_base = random.randrange(50000, 59000, 50)
        self.env = dict(
            os.environ,
            DOCKER_BUILDKIT="1",
            COMPOSE_DOCKER_CLI_BUILD="1",
            HOMESERVER_IMAGE=IMAGE,
            SERVER_NAME=SERVER_NAME,
            POSTGRES_PASSWORD=secrets.token_hex(16),
            TURN_SHARED_SECRET=secrets.token_hex(24),
            TURN_HOST="127.0.0.1",
            TURN_PORT=str(self.turn_port),
            TURN_MIN_PORT=str(relay_base),
            TURN_MAX_PORT=str(relay_base + 20),
            REGISTRATION_SHARED_SECRET=secrets.token_urlsafe(24),
            HOMESERVER_BIND="127.0.0.1",
            HOMESERVER_PORT=str(self.http_port),
        )
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.timings: dict[str, float] = {}
        self.state: dict[str, Any] = {}
        self.up = False
        self.volumes_before: set[str] = set()
        self.error: str | None = None

    # -- commands -------------------------------------------------------------------------------

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "-p", self.project, "-f", os.path.join(DOCKER_DIR, "docker-compose.yml"),
               "-f", os.path.join(DOCKER_DIR, "docker-compose.local.yml"), *args]
        result = subprocess.run(cmd, env=self.env, cwd=DOCKER_DIR, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"`docker compose {' '.join(args)}` exited {result.returncode}:\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{self.logs()}")
        return result

    def logs(self) -> str:
        try:
            result = subprocess.run(
                ["docker", "compose", "-p", self.project, "-f", os.path.join(DOCKER_DIR, "docker-compose.yml"),
                 "-f", os.path.join(DOCKER_DIR, "docker-compose.local.yml"), "logs", "--no-color", "--tail", "60"],
                env=self.env, cwd=DOCKER_DIR, capture_output=True, text=True, timeout=60)
            return "--- docker compose logs ---\n" + result.stdout[-6000:] + result.stderr[-2000:]
        except Exception as e:  # noqa: BLE001 - diagnostics only
            return f"(no logs: {e})"

    def timed(self, name: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        start = time.monotonic()
        result = self.compose(*args, timeout=timeout)
        self.timings[name] = time.monotonic() - start
        return result

    def start(self) -> None:
        if self.up:
            return
        if self.error:
            raise AssertionError(f"the stack did not start: {self.error}")
        try:
            start = time.monotonic()
            if os.path.exists(SETUP_SCRIPT):
                result = subprocess.run(["bash", SETUP_SCRIPT], capture_output=True, text=True, timeout=900)
                if result.returncode != 0:
                    raise AssertionError(f"{SETUP_SCRIPT} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
            else:
                subprocess.run(["docker", "info"], capture_output=True, check=True, timeout=60)
            self.timings["docker setup"] = time.monotonic() - start
            self.volumes_before = _volumes()
            atexit.register(self.stop)
            self.timed("build images", "build", timeout=1200)
            self.up = True  # from here on, `down -v` cleans up whatever came up
            self.timed("up --wait", "up", "-d", "--wait", timeout=600)
        except Exception as e:
            self.error = str(e)[:200]
            raise

    def stop(self) -> None:
        if self.up:
            self.up = False
            self.compose("down", "-v", "--remove-orphans", "--timeout", "20", timeout=300, check=False)
            # The images stay for the next run's cache; those a rebuild replaced (untagged) go.
            subprocess.run(["docker", "image", "prune", "-f", "--filter", "label=io.homeserver.local-build"],
                           capture_output=True, timeout=120)

    # -- HTTP -----------------------------------------------------------------------------------

    def http(self, method: str, path: str, body: Any = None, token: str | None = None
             ) -> tuple[int, bytes, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as e:
            return e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}

    def json(self, method: str, path: str, body: Any = None, token: str | None = None, expect: int = 200) -> Any:
        code, raw, _headers = self.http(method, path, body, token)
        if code != expect:
            raise AssertionError(f"{method} {path}: {code} {raw[:500]!r}")
        return json.loads(raw)


STACK: Stack | None = None


def stack() -> Stack:
    global STACK
    if STACK is None:
        STACK = Stack()
    STACK.start()
    return STACK


class ComposeStackTest(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        if os.environ.get(ENABLE_ENV) != "1":
            raise unittest.SkipTest(f"docker compose stack test: set {ENABLE_ENV}=1 (scripts/run-tests.sh does)")

    def test_1_stack_healthy_and_serving_the_web_client(self) -> None:
        s = stack()
        ps = s.compose("ps", "--format", "json").stdout
        services = [json.loads(line) for line in ps.splitlines() if line.strip().startswith("{")]
        if not services and ps.strip().startswith("["):
            services = json.loads(ps)
        health = {c["Service"]: c.get("Health") for c in services}
        self.assertEqual(health, {"postgres": "healthy", "homeserver": "healthy", "coturn": "healthy"})

        code, body, _ = s.http("GET", "/health")
        self.assertEqual((code, body), (200, b"OK"))
        # The web client built in the image, at the same origin as the API.
        code, body, headers = s.http("GET", "/")
        self.assertEqual(code, 200)
        self.assertIn(b"<!doctype html>", body.lower())
        self.assertIn("text/html", headers["content-type"])
        script = body.split(b'src="/assets/', 1)[1].split(b'"', 1)[0].decode()
        code, _body, headers = s.http("GET", "/assets/" + script)
        self.assertEqual(code, 200)
        self.assertIn("javascript", headers["content-type"])
        versions = s.json("GET", "/_matrix/client/versions")
        self.assertIn("v1.11", versions["versions"])

    def test_2_register_and_send(self) -> None:
        s = stack()
        # Shared-secret registration over HTTP at the web client's origin.
        secret = s.env["REGISTRATION_SHARED_SECRET"]
        nonce = s.json("GET", "/_synapse/admin/v1/register")["nonce"]
        mac = hmac.new(secret.encode(), b"\x00".join([nonce.encode(), b"alice", b"alice-password", b"notadmin"]),
                       hashlib.sha1).hexdigest()
        alice = s.json("POST", "/_synapse/admin/v1/register", {
            "nonce": nonce, "username": "alice", "password": "alice-password", "admin": False, "mac": mac})
        self.assertEqual(alice["user_id"], f"@alice:{SERVER_NAME}")
        # The operator's way, inside the container, with the generated config.
        result = s.compose("exec", "-T", "homeserver", "homeserver", "register-user", "-c", "/data/homeserver.yaml",
                           "-u", "bob", "-p", "bob-password", "--admin", timeout=120)
        self.assertIn(f"Registered @bob:{SERVER_NAME} (admin)", result.stdout)
        bob = s.json("POST", "/_matrix/client/v3/login", {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bob"},
            "password": "bob-password"})

        room = s.json("POST", "/_matrix/client/v3/createRoom", {"invite": [bob["user_id"]]},
                      token=alice["access_token"])["room_id"]
        s.json("POST", f"/_matrix/client/v3/join/{urllib.parse.quote(room)}", {}, token=bob["access_token"])
        sent = s.json("PUT", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/send/m.room.message/t1",
                      {"msgtype": "m.text", "body": "hello from the compose stack"}, token=alice["access_token"])
        s.state.update(alice=alice, bob=bob, room=room, event_id=sent["event_id"])

        # In PostgreSQL, not in a SQLite file in the volume.
        result = s.compose("exec", "-T", "postgres", "psql", "-U", "homeserver", "-d", "homeserver", "-tAc",
                           "SELECT count(*) FROM users", timeout=60)
        self.assertEqual(result.stdout.strip(), "2")

    def test_3_turn_relay_with_the_servers_credentials(self) -> None:
        s = stack()
        alice = s.state.get("alice")
        if alice is None:
            raise AssertionError("no user: test_2 failed")
        turn = s.json("GET", "/_matrix/client/v3/voip/turnServer", token=alice["access_token"])
        self.assertEqual(turn["uris"], [f"turn:127.0.0.1:{s.turn_port}?transport=udp",
                                        f"turn:127.0.0.1:{s.turn_port}?transport=tcp"])
        self.assertTrue(turn["username"].endswith(f":{alice['user_id']}"))
        client = TurnClient("127.0.0.1", s.turn_port)
        try:
            allocation = client.allocate(turn["username"], turn["password"])
            relay_port = allocation.relayed[1]
            self.assertTrue(int(s.env["TURN_MIN_PORT"]) <= relay_port <= int(s.env["TURN_MAX_PORT"]),
                            allocation)
            self.assertGreater(allocation.lifetime, 0)
            client.release()
        finally:
            client.close()
        # A wrong password is refused: coturn checks the secret, it does not accept anyone.
        client = TurnClient("127.0.0.1", s.turn_port)
        try:
            with self.assertRaises(TurnError) as caught:
                client.allocate(turn["username"], turn["password"][:-4] + "AAA=")
            self.assertEqual(caught.exception.code, 401)
        finally:
            client.close()

    def test_4_down_and_up_keeps_everything(self) -> None:
        s = stack()
        if "room" not in s.state:
            raise AssertionError("no message: test_2 failed")
        key_path = f"/data/{SERVER_NAME}.signing.key"
        before = s.compose("exec", "-T", "homeserver", "cat", key_path, "/data/homeserver.yaml").stdout
        s.timed("down (volumes kept)", "down", "--timeout", "20")
        s.timed("up --wait again", "up", "-d", "--wait", timeout=600)
        after = s.compose("exec", "-T", "homeserver", "cat", key_path, "/data/homeserver.yaml").stdout
        self.assertEqual(before, after)  # the same config and signing key: not generated again

        room = urllib.parse.quote(s.state["room"])
        for who in ("alice", "bob"):  # the old access tokens still work
            messages = s.json("GET", f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=20",
                              token=s.state[who]["access_token"])
            bodies = {e["event_id"]: e["content"].get("body") for e in messages["chunk"]}
            self.assertEqual(bodies.get(s.state["event_id"]), "hello from the compose stack", who)
        # And the same through /sync, as the web client reads it.
        sync = s.json("GET", "/_matrix/client/v3/sync", token=s.state["bob"]["access_token"])
        timeline = sync["rooms"]["join"][s.state["room"]]["timeline"]["events"]
        self.assertIn(s.state["event_id"], [e["event_id"] for e in timeline])

    def test_9_down_removes_what_it_made(self) -> None:
        s = stack()
        s.stop()
        left = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={s.project}"],
                              capture_output=True, text=True, timeout=60).stdout.strip()
        self.assertEqual(left, "")
        # Named volumes and anonymous ones (an image's VOLUME not mounted by the compose file).
        self.assertEqual(_volumes() - s.volumes_before, set())
        report = os.environ.get("HOMESERVER_TEST_DOCKER_TIMINGS")
        if report:
            with open(report, "w") as f:
                for name, seconds in s.timings.items():
                    f.write(f"   {name}: {seconds:.1f}s\n")
