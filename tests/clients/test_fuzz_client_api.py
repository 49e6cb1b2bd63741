"""Spec fuzzing: schemathesis over every operation of the client-server API, against the real server.

The OpenAPI document is the spec's client-server API merged by scripts/merge-openapi.py and vendored
as tests/clients/openapi/client-server.json. For each operation, a fresh user (its access token on
every request) owns a fresh room holding one message, an alias, a filter and an uploaded file; path
parameters named like those (roomId, userId, eventId, ...) take the real values in most examples and
schemathesis' generated ones in the rest. Each operation gets the spec's own examples (with the real
path values), then a fixed budget of generated examples, half valid per the spec (positive) and half
not (negative), from a fixed seed so a run is reproducible.

Checks, for every response: never a 5xx; every 4xx has a Matrix error body, a JSON object with
``errcode`` and ``error`` strings (or, for a 401 of user-interactive auth, its ``flows`` body).
The test reports every failing operation at once, each with the example as a curl command.

Knobs (environment): HOMESERVER_FUZZ_EXAMPLES (examples per operation, default 16),
HOMESERVER_FUZZ_OPERATIONS (a regular expression: only the operations whose "METHOD /path" matches),
HOMESERVER_FUZZ_SEED (changes the examples; default fixed).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from twisted.trial import unittest

from tests.clients.server_process import HOST, ServerProcess

SPEC = Path(__file__).resolve().parent / "openapi" / "client-server.json"
EXAMPLES = int(os.environ.get("HOMESERVER_FUZZ_EXAMPLES", "16"))
OPERATIONS = re.compile(os.environ.get("HOMESERVER_FUZZ_OPERATIONS", ""))
SEED = int(os.environ.get("HOMESERVER_FUZZ_SEED", "18"))
REQUEST_TIMEOUT_S = 20.0
# Long-polls (/sync, /events) are clamped to this many milliseconds so no example waits long.
MAX_POLL_MS = 50

# Operations not fuzzed, with the reason (also listed in docs/development.md). Operations that log
# out or deactivate are fuzzed: each operation has its own user, so they only end their own run.
EXCLUDED: dict[str, str] = {}

SERVER_OVERRIDES: dict[str, Any] = {
    "enable_registration": True,
    "enable_registration_without_verification": True,
    # No outbound federation: fuzzed server names must not make the server reach out anywhere.
    # (URL previews, which fetch any URL, are off by default; there is no identity server support.)
    "federation_domain_whitelist": [],
}


def _schemathesis():
    import schemathesis
    from schemathesis.generation import GenerationMode

    return schemathesis, GenerationMode


class _Fixture:
    """One operation's user, room and the real values of its path parameters."""

    def __init__(self, server: ServerProcess, index: int) -> None:
        self.server = server
        localpart = f"fuzz{index}"
        reg = server.register_admin_via_shared_secret(localpart, "fuzz-password")
        self.token = reg["access_token"]
        self.user_id = reg["user_id"]
        self.device_id = reg["device_id"]
        self.room_id = self._ok("POST", "/_matrix/client/v3/createRoom",
                                {"room_alias_name": f"room{index}", "name": "fuzz"})["room_id"]
        self.alias = f"#room{index}:localhost"
        self.event_id = self._ok("PUT", f"/_matrix/client/v3/rooms/{self.room_id}/send/m.room.message/t{index}",
                                 {"msgtype": "m.text", "body": "hello"})["event_id"]
        self.filter_id = self._ok("POST", f"/_matrix/client/v3/user/{self.user_id}/filter",
                                  {"room": {"timeline": {"limit": 5}}})["filter_id"]
        self.media_id = self._upload()
        self.values: dict[str, str] = {
            "roomId": self.room_id,
            "roomIdOrAlias": self.room_id,
            "roomAlias": self.alias,
            "userId": self.user_id,
            "eventId": self.event_id,
            "deviceId": self.device_id,
            "filterId": self.filter_id,
            "serverName": "localhost",
            "mediaId": self.media_id,
            "eventType": "m.room.message",
            "type": "m.tag",
        }

    def _ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, resp = self.server.request(method, path, body, access_token=self.token)
        if status != 200 or not isinstance(resp, dict):
            raise AssertionError(f"fixture {method} {path} -> {status} {resp!r}")
        return resp

    def _upload(self) -> str:
        import urllib.request

        req = urllib.request.Request(
            self.server.base_url + "/_matrix/media/v3/upload?filename=a.txt", data=b"fuzz", method="POST",
            headers={"Content-Type": "text/plain", "Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())["content_uri"].rsplit("/", 1)[1]


def matrix_error_problem(status: int, body: bytes) -> str | None:
    """Why this 4xx body is not a Matrix error, or None when it is one."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:200]!r}"
    if not isinstance(parsed, dict):
        return f"not a JSON object: {body[:200]!r}"
    if status == 401 and isinstance(parsed.get("flows"), list):
        return None  # user-interactive auth: errcode/error only after a failed stage
    if not isinstance(parsed.get("errcode"), str) or not isinstance(parsed.get("error"), str):
        return f"no errcode/error strings: {body[:300]!r}"
    return None


class FuzzClientAPITest(unittest.TestCase):
    timeout = 1200

    def test_every_operation(self) -> None:
        try:
            schemathesis, _ = _schemathesis()
        except ImportError as e:  # the [test] extra installs it
            self.fail(f"schemathesis is not installed ({e}): run scripts/setup-env.sh test")

        server = ServerProcess(SERVER_OVERRIDES)
        server.start()
        self.addCleanup(server.stop)
        schema = schemathesis.openapi.from_dict(json.loads(SPEC.read_text(encoding="utf-8")))

        operations = []
        for result in schema.get_all_operations():
            operation = result.ok()
            label = f"{operation.method.upper()} {operation.path}"
            if label in EXCLUDED or not OPERATIONS.search(label):
                continue
            operations.append((label, operation))
        self.assertTrue(operations, "no operation selected")

        failures: list[str] = []
        runs: list[_OperationRun] = []
        started = time.monotonic()
        for index, (label, operation) in enumerate(operations):
            run = _OperationRun(server, _Fixture(server, index), label)
            run.fuzz(operation)
            failures.extend(run.problems.values())
            runs.append(run)

        total = time.monotonic() - started
        slowest = ", ".join(f"{r.label} {r.seconds:.1f}s" for r in sorted(runs, key=lambda r: -r.seconds)[:5])
        print(f"\nfuzzed {len(operations)} operations, {sum(r.count for r in runs)} requests in {total:.1f}s, "
              f"{sum(r.call_seconds for r in runs):.1f}s of it waiting for responses (slowest: {slowest})")
        if EXCLUDED:
            print("excluded: " + "; ".join(f"{k} ({v})" for k, v in EXCLUDED.items()))
        if failures:
            self.fail(f"{len(failures)} failure(s) over {len(operations)} operations:\n" + "\n".join(failures)
                      + f"\nserver log tail:\n{server.log_tail(3000)}")


class _OperationRun:
    """The examples of one operation: sends them, keeps one example per kind of failure."""

    def __init__(self, server: ServerProcess, fixture: _Fixture, label: str) -> None:
        self.server = server
        self.fixture = fixture
        self.label = label
        self.problems: dict[str, str] = {}
        self.count = 0
        self.seconds = 0.0
        self.call_seconds = 0.0

    def fuzz(self, operation: Any) -> None:
        from hypothesis import HealthCheck, Phase, given, seed, settings
        from hypothesis import strategies as st

        _, GenerationMode = _schemathesis()
        started = time.monotonic()
        strategies = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategies.append(operation.as_strategy(generation_mode=mode))
            except Exception as e:  # noqa: BLE001 (a schema schemathesis cannot negate)
                self.problems[f"strategy {mode.value}"] = f"{self.label}: cannot generate {mode.value}: {e!r}"
        # The spec's own examples of this operation first, once each, with the real path values.
        try:
            examples = operation.schema.get_strategies_from_examples(operation)
        except Exception as e:  # noqa: BLE001
            examples = []
            self.problems["examples"] = f"{self.label}: cannot read the spec's examples: {e!r}"
        for example in examples:
            test = settings(max_examples=1, deadline=None, database=None, phases=[Phase.generate],
                            suppress_health_check=list(HealthCheck))(
                given(case=example)(lambda case: self.send(case, [True] * 4)))
            try:
                seed(SEED)(test)()
            except Exception as e:  # noqa: BLE001
                self.problems.setdefault("example", f"{self.label}: the spec's example failed: {type(e).__name__}: {e}")
        if strategies:
            # For each path parameter (sorted by name), whether it takes the fixture's real value.
            real = st.lists(st.integers(0, 3).map(bool), min_size=4, max_size=4)
            test = settings(
                max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
            )(given(case=st.one_of(strategies), real=real)(self.send))
            try:
                seed(SEED)(test)()
            except Exception as e:  # noqa: BLE001 (generation errors: report them, go on)
                self.problems["generation"] = f"{self.label}: generation failed: {type(e).__name__}: {e}"
        self.seconds = time.monotonic() - started

    def send(self, case: Any, real: list[bool]) -> None:
        self.count += 1
        names = sorted(case.path_parameters or {})
        for name, use_real in zip(names, real, strict=False):
            if use_real and name in self.fixture.values:
                case.path_parameters[name] = self.fixture.values[name]
        if isinstance(case.query, dict) and isinstance(case.query.get("timeout"), int):
            case.query["timeout"] = min(case.query["timeout"], MAX_POLL_MS)
        call_started = time.monotonic()
        try:
            response = case.call(base_url=self.server.base_url,
                                 headers={"Authorization": f"Bearer {self.fixture.token}"},
                                 timeout=REQUEST_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001 (a timeout or a dropped connection is a failure too)
            self.problems.setdefault(f"transport {type(e).__name__}",
                                     f"{self.label}: {type(e).__name__}: {e}\n    {_curl(case)}")
            return
        finally:
            self.call_seconds += time.monotonic() - call_started
        status = response.status_code
        if status >= 500:
            self.problems.setdefault(f"{status}", f"{self.label}: {status} {response.content[:300]!r}\n    {_curl(case)}")
        elif 400 <= status < 500:
            problem = matrix_error_problem(status, response.content)
            if problem is not None:
                self.problems.setdefault(f"body {status}", f"{self.label}: {status} {problem}\n    {_curl(case)}")


def _curl(case: Any) -> str:
    try:
        return case.as_curl_command(headers={"Authorization": "Bearer TOKEN"}).replace(
            "http://localhost:8008", f"http://{HOST}:PORT")
    except Exception as e:  # noqa: BLE001
        return f"(no curl: {e!r}) {case!r}"
