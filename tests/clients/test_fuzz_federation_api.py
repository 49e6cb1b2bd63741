"""Spec fuzzing of the federation API: schemathesis over every operation of the spec's server-server
API (tests/clients/openapi/server-server.json, merged by scripts/merge-openapi.py), against the
federation listener (TLS) of a real server process A, every request signed (``Authorization:
X-Matrix``) by a second real server B, whose key A fetches from B as for any peer.

A user of A owns a public room holding one message and an uploaded file; a user of B has joined
it (so B's requests about the room pass the checks that membership gates). Path parameters take
those real values in most examples (``roomId``, ``eventId``, ``userId`` = B's user, ``serverName``
= B, ``mediaId``). A federates only with B (``federation_domain_whitelist``), so fuzzed server
names never make it reach out. Same budget and checks as the client-server fuzz test: no 5xx, every
4xx a Matrix error; HOMESERVER_FUZZ_EXAMPLES, _SEED and _OPERATIONS apply too.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from twisted.trial import unittest

from tests.clients.federation_support import FederatingServer, TestCa
from tests.clients.fuzz_support import SKIP_REASON, REQUEST_TIMEOUT_S, OperationRun, load_operations

# Operations not fuzzed, with the reason (also in docs/development.md).
EXCLUDED: dict[str, str] = {}

JOIN_TIMEOUT_S = 60.0


class FuzzFederationAPITest(unittest.TestCase):
    timeout = 900

    def test_every_operation(self) -> None:
        if SKIP_REASON:
            raise unittest.SkipTest(SKIP_REASON)
        try:
            import requests
            from signedjson.key import read_signing_keys

            operations = load_operations("server-server", EXCLUDED)
        except ImportError as e:  # the [test] extra installs schemathesis (and requests with it)
            self.fail(f"schemathesis is not installed ({e}): run scripts/setup-env.sh test")
        from homeserver.federation.request_auth import authorization_header

        self.assertTrue(operations, "no operation selected")
        directory = Path(tempfile.mkdtemp(prefix="hs-fuzz-fed-"))
        ca = TestCa(directory)
        b = FederatingServer(ca, "b")
        a = FederatingServer(ca, "a", {"federation_domain_whitelist": [b.server_name]})
        for server in (a, b):
            server.start()
            self.addCleanup(server.stop)
        b_key_path = Path(b.config["signing_key_path"])
        if not b_key_path.is_absolute():
            b_key_path = b.config_path.parent / b_key_path
        with open(b_key_path, encoding="utf-8") as f:
            [b_key] = read_signing_keys(f)

        values = self._fixture(a, b)
        session = requests.Session()
        base_url = f"https://{a.server_name}"

        def call(case: Any) -> Any:
            kwargs = case.as_transport_kwargs(base_url=base_url)
            headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"}
            request = requests.Request(method=kwargs["method"], url=kwargs["url"], headers=headers,
                                       params=kwargs.get("params"), json=kwargs.get("json"),
                                       data=kwargs.get("data"), files=kwargs.get("files"))
            prepared = session.prepare_request(request)
            content = None
            if prepared.body:
                try:
                    content = json.loads(prepared.body)
                except ValueError:
                    content = None
            prepared.headers["Authorization"] = authorization_header(
                b.server_name, b_key, a.server_name, prepared.method, prepared.path_url, content)
            return session.send(prepared, verify=str(ca.ca_path), timeout=REQUEST_TIMEOUT_S)

        failures: list[str] = []
        runs: list[OperationRun] = []
        started = time.monotonic()
        for label, operation in operations:
            run = OperationRun(label, values, call)
            run.fuzz(operation)
            failures.extend(run.problems.values())
            runs.append(run)
        total = time.monotonic() - started
        print(f"\nfuzzed {len(operations)} federation operations, {sum(r.count for r in runs)} signed requests "
              f"in {total:.1f}s, {sum(r.call_seconds for r in runs):.1f}s of it waiting for responses")
        if failures:
            self.fail(f"{len(failures)} failure(s) over {len(operations)} operations:\n" + "\n".join(failures)
                      + f"\nserver A's log tail:\n{a.log_tail(3000)}")

    def _fixture(self, a: FederatingServer, b: FederatingServer) -> dict[str, str]:
        alice = a.register_admin_via_shared_secret("alice", "fuzz-password")
        bob = b.register_admin_via_shared_secret("bob", "fuzz-password")

        def ok(server: FederatingServer, token: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
            status, resp = server.request(method, path, body, access_token=token, timeout=JOIN_TIMEOUT_S)
            self.assertEqual(status, 200, f"fixture {method} {path} -> {status} {resp!r}")
            return resp

        room_id = ok(a, alice["access_token"], "POST", "/_matrix/client/v3/createRoom",
                     {"preset": "public_chat", "room_alias_name": "fuzz"})["room_id"]
        event_id = ok(a, alice["access_token"], "PUT",
                      f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/t1",
                      {"msgtype": "m.text", "body": "hello"})["event_id"]
        server_name = urllib.parse.quote(a.server_name, safe="")
        ok(b, bob["access_token"], "POST",
           f"/_matrix/client/v3/join/{urllib.parse.quote(room_id, safe='')}?server_name={server_name}", {})
        upload = urllib.request.Request(
            a.base_url + "/_matrix/media/v3/upload?filename=a.txt", data=b"fuzz", method="POST",
            headers={"Content-Type": "text/plain", "Authorization": f"Bearer {alice['access_token']}"})
        with urllib.request.urlopen(upload, timeout=10) as resp:
            media_id = json.loads(resp.read())["content_uri"].rsplit("/", 1)[1]
        return {
            "roomId": room_id,
            "eventId": event_id,
            "userId": bob["user_id"],
            "serverName": b.server_name,
            "mediaId": media_id,
        }
