"""The real server process with a push rule that a backtracking glob matcher takes hours to
evaluate: the server keeps answering, and the rule still works."""

from __future__ import annotations

import time
import urllib.parse

from twisted.trial import unittest

from tests.clients.server_process import ServerProcess

PATHOLOGICAL = "*a*a*a*a*a*a*b"
DEADLINE_S = 60.0


class PathologicalPushRuleTest(unittest.TestCase):
    timeout = 300

    def test_pathological_content_rule_does_not_stall_the_server(self) -> None:
        server = ServerProcess({"enable_registration": True, "enable_registration_without_verification": True})
        server.start()
        self.addCleanup(server.stop)
        alice = server.register_admin_via_shared_secret("alice", "pw")["access_token"]
        bob = server.register_admin_via_shared_secret("bob", "pw")["access_token"]

        def call(method: str, path: str, token: str, body: dict | None = None) -> dict:
            status, answer = server.request(method, "/_matrix/client/v3" + path, body, access_token=token)
            self.assertEqual(status, 200, answer)
            return answer

        room = call("POST", "/createRoom", alice, {"invite": ["@bob:localhost"]})["room_id"]
        call("POST", f"/join/{urllib.parse.quote(room)}", bob, {})
        call("PUT", "/pushrules/global/content/stall", bob,
             {"pattern": PATHOLOGICAL, "actions": ["notify", {"set_tweak": "highlight"}]})

        # 60 KB of "a a a ...": no "b" anywhere, the worst case for a backtracking matcher.
        txn = 0
        for body in ("a " * 30_000, "a " * 30_000 + "b"):
            txn += 1
            call("PUT", f"/rooms/{urllib.parse.quote(room)}/send/m.room.message/t{txn}", alice,
                 {"msgtype": "m.text", "body": body})
            status, _ = server.request("GET", "/_matrix/client/versions")  # answered meanwhile
            self.assertEqual(status, 200)

        # The second message matches the rule (highlighted); the first one notifies only through
        # the default rules (not highlighted).
        deadline = time.monotonic() + DEADLINE_S
        while True:
            messages = [n for n in call("GET", "/notifications", bob)["notifications"]
                        if n["event"]["type"] == "m.room.message"]
            if len(messages) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(len(messages), 2)
        highlights = [n["event"]["content"]["body"].endswith("b")
                      for n in messages if {"set_tweak": "highlight"} in n["actions"]]
        self.assertEqual(highlights, [True])
