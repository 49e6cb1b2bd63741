"""Crash safety: the real server under load, killed with SIGKILL at a random moment, restarted on
the same data, must have kept every write it acknowledged with a 200.

Each cycle, four users write at once (messages with transaction IDs, room state, display names,
account data, to-device messages to each other) while a fifth long-polls /sync; the server is
killed (`kill -9`) at a random moment, restarted on the same database, and then:

- every acknowledged message is there (by its event ID, with its content), and sending it again with
  the same transaction ID (same access token) gives the same event ID;
- room state, display names and account data hold the last acknowledged value, or the value of the
  request that was in flight at the kill (it may or may not have been written);
- every acknowledged to-device message is delivered to its recipient;
- a sync token handed out before the crash still works: /sync from the token taken before the load,
  and from the watcher's last token before the kill, answer 200 and, with what the watcher had
  already seen, hold every acknowledged message.

Three cycles on one database. The kill moments come from a seeded random generator; the seed is
printed, and HOMESERVER_CRASH_SEED=<seed> replays the same choices (the timing of the load itself
varies from run to run). Runs on SQLite, and on PostgreSQL when HOMESERVER_TEST_DB=postgres.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from twisted.trial import unittest

from tests.clients.server_process import ServerProcess

CYCLES = 3
WRITERS = 4
LOAD_S = (0.4, 2.5)  # the kill comes this long (uniform) after the load starts,
MIN_ACKNOWLEDGED = 10  # and not before this many writes were acknowledged
ROOM_FILTER = urllib.parse.quote(json.dumps({"room": {"timeline": {"limit": 2000}}}))
STATE_TYPE = "org.example.crash"
ACCOUNT_DATA_TYPE = "org.example.crash"
TO_DEVICE_TYPE = "org.example.crash"


@dataclass
class User:
    name: str
    user_id: str
    token: str
    device_id: str
    sync_token: str = ""


@dataclass
class Written:
    """What one writer had acknowledged, and the request in flight when the server died."""

    sends: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (txn_id, event_id, content)
    acked: dict[str, int] = field(default_factory=dict)  # kind -> last acknowledged n
    pending: tuple[str, int] | None = None  # (kind, n) of the request that got no answer
    to_device: list[tuple[str, int]] = field(default_factory=list)  # (recipient user ID, n)
    other_writes: int = 0  # acknowledged state, display name and account data writes
    error: str | None = None


class CrashSafetyTest(unittest.TestCase):
    timeout = 600

    def test_acknowledged_writes_survive_kill_9(self) -> None:
        seed = int(os.environ.get("HOMESERVER_CRASH_SEED") or random.SystemRandom().randrange(2**31))
        print(f"\ncrash safety seed: {seed} (replay with HOMESERVER_CRASH_SEED={seed})")
        rng = random.Random(seed)
        server = ServerProcess({"enable_registration": True, "enable_registration_without_verification": True})
        server.start()
        self.addCleanup(server.stop)
        self.server = server

        users = [self._register(f"writer{i}") for i in range(WRITERS)]
        watcher = self._register("watcher")
        room_id = self._ok(users[0], "POST", "/_matrix/client/v3/createRoom",
                           {"preset": "public_chat", "name": "crash", "power_level_content_override": {
                               "users": {u.user_id: 100 for u in users[1:]}}})["room_id"]
        for user in users[1:] + [watcher]:
            self._ok(user, "POST", f"/_matrix/client/v3/rooms/{room_id}/join", {})
        for user in users + [watcher]:
            user.sync_token = self._sync(user, None)["next_batch"]

        all_sends: list[tuple[User, str, str, dict[str, Any]]] = []
        baseline: dict[str, dict[str, int | None]] = {u.name: {} for u in users}
        for cycle in range(CYCLES):
            before = {u.name: u.sync_token for u in users}
            watcher_seen: set[str] = set()
            stop = threading.Event()
            # What each writer had acknowledged: the values found after the previous crash, then its own.
            written = {u.name: Written(acked=dict(baseline[u.name])) for u in users}
            writers = [threading.Thread(target=self._write, daemon=True,
                                        args=(cycle, u, users, room_id, written[u.name], random.Random(rng.random()),
                                              stop))
                       for u in users]
            watch = threading.Thread(target=self._watch, args=(watcher, room_id, watcher_seen, stop), daemon=True)
            kill_after = rng.uniform(*LOAD_S)
            started = time.monotonic()
            for thread in writers + [watch]:
                thread.start()
            time.sleep(kill_after)
            # On a slow machine, wait for some load to be acknowledged first (the kill still lands
            # at an unplanned moment of it).
            deadline = time.monotonic() + 60
            while (sum(len(w.sends) + w.other_writes for w in written.values()) < MIN_ACKNOWLEDGED
                   and time.monotonic() < deadline):
                time.sleep(0.05)
            server.kill_hard()
            stop.set()
            for thread in writers + [watch]:
                thread.join(30)
                self.assertFalse(thread.is_alive(), "a load thread did not stop")
            for name, w in written.items():
                self.assertIsNone(w.error, f"{name}: {w.error}")
            acked_sends = sum(len(w.sends) for w in written.values())
            print(f"cycle {cycle}: killed after {time.monotonic() - started:.2f}s; acknowledged "
                  f"{acked_sends} messages, {sum(w.other_writes for w in written.values())} state/profile/account data writes, "
                  f"{sum(len(w.to_device) for w in written.values())} to-device")
            self.assertGreater(acked_sends, 0, "the load acknowledged nothing before the kill")
            server.relaunch()

            by_name = {u.name: u for u in users}
            for name, w in written.items():
                all_sends.extend((by_name[name], txn, event_id, content) for txn, event_id, content in w.sends)
            # Every message acknowledged so far (this cycle and the ones before) is there, and its
            # transaction ID still gives the same event.
            for user, txn, event_id, content in all_sends:
                event = self._ok(user, "GET", f"/_matrix/client/v3/rooms/{room_id}/event/{_q(event_id)}")
                self.assertEqual(event["content"], content, event_id)
                again = self._ok(user, "PUT",
                                 f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}", content)
                self.assertEqual(again["event_id"], event_id, f"retry of {txn} after the crash")
            for user in users:
                baseline[user.name] = self._check_values(user, room_id, written[user.name])
            self._check_to_device(users, written)

            # Sync tokens from before the crash: each writer's pre-load token, the watcher's last one.
            cycle_events = {event_id for w in written.values() for _, event_id, _ in w.sends}
            for user in users:
                status, body = server.request("GET", f"/_matrix/client/v3/sync?since={_q(before[user.name])}"
                                                     f"&timeout=0&filter={ROOM_FILTER}", access_token=user.token)
                self.assertEqual(status, 200, f"pre-crash token of {user.name}: {body}")
                timeline = body["rooms"]["join"][room_id]["timeline"]
                self.assertFalse(timeline.get("limited"), "timeline limited: raise the filter's limit")
                missing = cycle_events - {e["event_id"] for e in timeline["events"]}
                self.assertEqual(missing, set(), f"sync since {user.name}'s pre-crash token misses these")
            status, body = server.request("GET", f"/_matrix/client/v3/sync?since={_q(watcher.sync_token)}"
                                                 f"&timeout=0&filter={ROOM_FILTER}", access_token=watcher.token)
            self.assertEqual(status, 200, f"the watcher's last pre-crash token: {body}")
            room = body.get("rooms", {}).get("join", {}).get(room_id, {"timeline": {"events": []}})
            self.assertFalse(room["timeline"].get("limited"))
            after = {e["event_id"] for e in room["timeline"]["events"]}
            self.assertEqual(cycle_events - watcher_seen - after, set(),
                             "acknowledged messages neither seen by the watcher before the crash nor in "
                             "the sync from its last token")
            watcher.sync_token = body["next_batch"]

    # ------------------------------------------------------------------ load

    def _write(self, cycle: int, me: User, users: list[User], room_id: str, out: Written, rng: random.Random,
               stop: threading.Event) -> None:
        """Writes until the server stops answering. Only what got a 200 counts as acknowledged."""
        others = [u for u in users if u is not me]
        n = 0
        while not stop.is_set():
            n += 1
            kind = rng.choice(["message", "message", "message", "state", "profile", "account_data", "to_device"])
            out.pending = (kind, n)
            try:
                if kind == "message":
                    txn = f"c{cycle}n{n}"
                    content = {"msgtype": "m.text", "body": f"{me.name} cycle {cycle} #{n}"}
                    status, body = self.server.request(
                        "PUT", f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}", content,
                        access_token=me.token)
                    if status == 200 and isinstance(body, dict):
                        out.sends.append((txn, body["event_id"], content))
                elif kind == "state":
                    status, body = self.server.request(
                        "PUT", f"/_matrix/client/v3/rooms/{room_id}/state/{STATE_TYPE}/{_q(me.user_id)}",
                        {"n": n}, access_token=me.token)
                elif kind == "profile":
                    status, body = self.server.request(
                        "PUT", f"/_matrix/client/v3/profile/{_q(me.user_id)}/displayname",
                        {"displayname": f"{me.name} {n}"}, access_token=me.token)
                elif kind == "account_data":
                    status, body = self.server.request(
                        "PUT", f"/_matrix/client/v3/user/{_q(me.user_id)}/account_data/{ACCOUNT_DATA_TYPE}",
                        {"n": n}, access_token=me.token)
                else:
                    to = rng.choice(others)
                    status, body = self.server.request(
                        "PUT", f"/_matrix/client/v3/sendToDevice/{TO_DEVICE_TYPE}/c{cycle}n{n}",
                        {"messages": {to.user_id: {to.device_id: {"n": n, "cycle": cycle}}}}, access_token=me.token)
                    if status == 200 and isinstance(body, dict):
                        out.to_device.append((to.user_id, n))
            except (OSError, http.client.HTTPException):
                return  # the server is gone: this request stays pending
            if status == 200 and not isinstance(body, dict):
                return  # the answer was cut short by the kill: pending too
            if status != 200:
                out.error = f"{kind} #{n} -> {status} {body!r}"
                return
            if kind not in ("message", "to_device"):
                out.acked[kind] = n
                out.other_writes += 1
            out.pending = None

    def _watch(self, watcher: User, room_id: str, seen: set[str], stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                status, body = self.server.request(
                    "GET", f"/_matrix/client/v3/sync?since={_q(watcher.sync_token)}&timeout=500"
                           f"&filter={ROOM_FILTER}", access_token=watcher.token)
            except (OSError, http.client.HTTPException):
                return
            if status != 200 or not isinstance(body, dict):
                return
            room = body.get("rooms", {}).get("join", {}).get(room_id)
            if room is not None:
                seen.update(e["event_id"] for e in room["timeline"]["events"])
            watcher.sync_token = body["next_batch"]

    # ------------------------------------------------------------------ checks

    def _check_values(self, user: User, room_id: str, w: Written) -> dict[str, int | None]:
        """Checks the user's state, display name and account data; returns them."""
        def allowed(kind: str) -> set[int | None]:
            values: set[int | None] = {w.acked.get(kind)}
            if w.pending is not None and w.pending[0] == kind:
                values.add(w.pending[1])
            return values

        def current(kind: str) -> int | None:
            if kind == "state":
                path = f"/_matrix/client/v3/rooms/{room_id}/state/{STATE_TYPE}/{_q(user.user_id)}"
            elif kind == "profile":
                path = f"/_matrix/client/v3/profile/{_q(user.user_id)}/displayname"
            else:
                path = f"/_matrix/client/v3/user/{_q(user.user_id)}/account_data/{ACCOUNT_DATA_TYPE}"
            status, body = self.server.request("GET", path, access_token=user.token)
            if status == 404:
                return None
            self.assertEqual(status, 200, f"{kind} of {user.name}: {body}")
            if kind == "profile":
                name = body.get("displayname") or ""
                return int(name.rsplit(" ", 1)[1]) if name.startswith(f"{user.name} ") else None
            return body.get("n")

        found = {}
        for kind in ("state", "profile", "account_data"):
            found[kind] = current(kind)
            self.assertIn(found[kind], allowed(kind), f"{kind} of {user.name} after the crash "
                                                      f"(acknowledged {w.acked.get(kind)}, pending {w.pending})")
        return found

    def _check_to_device(self, users: list[User], written: dict[str, Written]) -> None:
        expected: dict[str, set[tuple[str, int]]] = {u.user_id: set() for u in users}
        for name, w in written.items():
            sender = next(u for u in users if u.name == name)
            for recipient, n in w.to_device:
                expected[recipient].add((sender.user_id, n))
        for user in users:
            received: set[tuple[str, int]] = set()
            for _ in range(100):
                body = self._sync(user, user.sync_token)
                user.sync_token = body["next_batch"]
                events = body.get("to_device", {}).get("events", [])
                if not events:
                    break
                received.update((e["sender"], e["content"]["n"]) for e in events if e["type"] == TO_DEVICE_TYPE)
            self.assertEqual(expected[user.user_id] - received, set(),
                             f"acknowledged to-device messages to {user.name} were lost")

    # ------------------------------------------------------------------ helpers

    def _register(self, name: str) -> User:
        body = self.server.register_admin_via_shared_secret(name, "crash-password")
        return User(name, body["user_id"], body["access_token"], body["device_id"])

    def _ok(self, user: User, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, resp = self.server.request(method, path, body, access_token=user.token)
        self.assertEqual(status, 200, f"{method} {path} -> {status} {resp!r}")
        return resp

    def _sync(self, user: User, since: str | None) -> dict[str, Any]:
        query = f"?timeout=0&filter={ROOM_FILTER}" + (f"&since={_q(since)}" if since else "")
        return self._ok(user, "GET", f"/_matrix/client/v3/sync{query}")


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
