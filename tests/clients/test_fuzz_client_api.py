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
import time
from functools import partial
from typing import Any

from twisted.trial import unittest

from tests.clients.fuzz_support import SKIP_REASON, REQUEST_TIMEOUT_S, OperationRun, load_operations
from tests.clients.server_process import ServerProcess

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


class FuzzClientAPITest(unittest.TestCase):
    timeout = 1200

    def test_every_operation(self) -> None:
        if SKIP_REASON:
            raise unittest.SkipTest(SKIP_REASON)
        try:
            operations = load_operations("client-server", EXCLUDED)
        except ImportError as e:  # the [test] extra installs it
            self.fail(f"schemathesis is not installed ({e}): run scripts/setup-env.sh test")
        self.assertTrue(operations, "no operation selected")
        server = ServerProcess(SERVER_OVERRIDES)
        server.start()
        self.addCleanup(server.stop)

        failures: list[str] = []
        runs: list[OperationRun] = []
        started = time.monotonic()
        for index, (label, operation) in enumerate(operations):
            fixture = _Fixture(server, index)
            run = OperationRun(label, fixture.values, partial(_call, server, fixture))
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




def _call(server: ServerProcess, fixture: _Fixture, case: Any) -> Any:
    return case.call(base_url=server.base_url, headers={"Authorization": f"Bearer {fixture.token}"},
                     timeout=REQUEST_TIMEOUT_S)


class VendoredSpecTest(unittest.TestCase):
    def test_the_vendored_documents_match_the_spec(self) -> None:
        """tests/clients/openapi/*.json are what scripts/merge-openapi.py makes of the spec beside the
        repository (../shared/matrix-spec), when it is there."""
        import importlib.util

        from tests.clients.fuzz_support import OPENAPI_DIR
        from tests.clients.server_process import REPO_ROOT

        spec_dir = REPO_ROOT.parent / "shared" / "matrix-spec"
        if not (spec_dir / "data" / "api").is_dir():
            raise unittest.SkipTest(f"no spec at {spec_dir}")
        loader = importlib.util.spec_from_file_location("merge_openapi", REPO_ROOT / "scripts" / "merge-openapi.py")
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        for api in module.APIS:
            merged = json.loads(json.dumps(module.merge(spec_dir, api), ensure_ascii=False))
            vendored = json.loads((OPENAPI_DIR / f"{api}.json").read_text(encoding="utf-8"))
            self.assertTrue(merged == vendored, f"tests/clients/openapi/{api}.json is out of date: "
                                                "run scripts/merge-openapi.py")
