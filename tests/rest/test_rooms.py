"""Rooms through the client API: create, membership, send, state, history, redaction."""

from urllib.parse import quote

from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"


class RoomsTestCase(HomeserverTestCase):
    async def users(self):
        self.alice = (await self.register("alice"))["access_token"]
        self.bob = (await self.register("bob"))["access_token"]

    async def create(self, token: str, **body) -> str:
        r = await self.post(f"{V3}/createRoom", body, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["room_id"]

    async def send(self, token: str, room_id: str, body: str, txn: str) -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/{txn}",
                               {"msgtype": "m.text", "body": body}, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]


class CreateRoomTest(RoomsTestCase):
    async def test_create_room_in_each_version(self) -> None:
        await self.users()
        for version in ("10", "11", "12"):
            room_id = await self.create(self.alice, room_version=version, name="Room", topic="About")
            r = await self.get(f"{V3}/rooms/{quote(room_id)}/state", token=self.alice)
            self.assertEqual(r.code, 200, r.json)
            types = [e["type"] for e in r.json]
            for t in ("m.room.create", "m.room.member", "m.room.power_levels", "m.room.join_rules",
                      "m.room.history_visibility", "m.room.guest_access", "m.room.name", "m.room.topic"):
                self.assertIn(t, types, version)
            create = next(e for e in r.json if e["type"] == "m.room.create")
            self.assertEqual(create["content"]["room_version"], version)
            pl = next(e for e in r.json if e["type"] == "m.room.power_levels")["content"]
            if version == "12":
                self.assertRegex(room_id, r"^![A-Za-z0-9_-]{43}$")
                self.assertEqual(create["event_id"][1:], room_id[1:])
                self.assertNotIn("@alice:test", pl["users"])  # creators have infinite power
                self.assertNotIn("creator", create["content"])
            else:
                self.assertTrue(room_id.endswith(":test"))
                self.assertEqual(pl["users"]["@alice:test"], 100)
            if version == "11":
                self.assertNotIn("creator", create["content"])
            r = await self.get(f"{V3}/rooms/{quote(room_id)}/state/m.room.name/", token=self.alice)
            self.assertEqual(r.json, {"name": "Room"})
        r = await self.get(f"{V3}/joined_rooms", token=self.alice)
        self.assertEqual(len(r.json["joined_rooms"]), 3)

    async def test_default_version_and_public_preset(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, visibility="public")
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/state/m.room.create", token=self.alice)
        self.assertEqual(r.json["room_version"], "12")
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/state/m.room.join_rules", token=self.alice)
        self.assertEqual(r.json, {"join_rule": "public"})

    async def test_bad_create_requests(self) -> None:
        await self.users()
        await self.assert_rejected_without_change("POST", f"{V3}/createRoom", {"room_version": "13"}, 400,
                                                  "M_UNSUPPORTED_ROOM_VERSION", token=self.alice)
        await self.assert_rejected_without_change("POST", f"{V3}/createRoom", {"preset": "party"}, 400,
                                                  "M_INVALID_PARAM", token=self.alice)
        await self.assert_rejected_without_change("POST", f"{V3}/createRoom", {"invite": ["nope"]}, 400,
                                                  "M_INVALID_PARAM", token=self.alice)


class MembershipAndMessagesTest(RoomsTestCase):
    async def test_invite_join_send_paginate_leave(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, invite=["@bob:test"], is_direct=True)
        room = quote(room_id)
        # Bob is invited, not joined: he cannot send yet.
        r = await self.request("PUT", f"{V3}/rooms/{room}/send/m.room.message/t0", {"body": "x"}, token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        self.assertEqual(r.json, {"room_id": room_id})
        ids = [await self.send(self.alice if i % 2 else self.bob, room_id, f"message {i}", f"t{i}")
               for i in range(1, 8)]
        # Same transaction ID, same device: the same event.
        self.assertEqual(await self.send(self.bob, room_id, "message 2 again", "t2"), ids[1])

        r = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=3", token=self.bob)
        self.assertEqual([e["content"]["body"] for e in r.json["chunk"]], ["message 7", "message 6", "message 5"])
        r2 = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=3&from={r.json['end']}", token=self.bob)
        self.assertEqual([e["content"]["body"] for e in r2.json["chunk"]], ["message 4", "message 3", "message 2"])
        r3 = await self.get(f"{V3}/rooms/{room}/messages?dir=f&limit=100&from={r2.json['end']}", token=self.bob)
        bodies = [e["content"].get("body") for e in r3.json["chunk"] if e["type"] == "m.room.message"]
        self.assertEqual(bodies, [f"message {i}" for i in range(2, 8)])
        # Forwards, the live end still has an `end` (to go on from later); the page after is empty.
        r5 = await self.get(f"{V3}/rooms/{room}/messages?dir=f&limit=100&from={r3.json['end']}", token=self.bob)
        self.assertEqual((r5.json["chunk"], r5.json["end"]), ([], r3.json["end"]))
        # Whole history backwards reaches the create event.
        r4 = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=100", token=self.bob)
        self.assertEqual(r4.json["chunk"][-1]["type"], "m.room.create")
        self.assertNotIn("end", r4.json)
        # Filter by type.
        f = quote('{"types":["m.room.member"]}')
        r5 = await self.get(f"{V3}/rooms/{room}/messages?dir=b&filter={f}", token=self.bob)
        self.assertEqual({e["type"] for e in r5.json["chunk"]}, {"m.room.member"})
        # Lazy loading: the senders' member events come along in "state".
        f = quote('{"types":["m.room.message"],"lazy_load_members":true}')
        r6 = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=2&filter={f}", token=self.bob)
        self.assertEqual({(e["type"], e["state_key"]) for e in r6.json["state"]},
                         {("m.room.member", "@alice:test"), ("m.room.member", "@bob:test")})

        r = await self.get(f"{V3}/rooms/{room}/joined_members", token=self.alice)
        self.assertEqual(set(r.json["joined"]), {"@alice:test", "@bob:test"})
        self.assertEqual(r.json["joined"]["@bob:test"]["display_name"], "bob")
        r = await self.get(f"{V3}/rooms/{room}/members?membership=join", token=self.alice)
        self.assertEqual(len(r.json["chunk"]), 2)

        r = await self.post(f"{V3}/rooms/{room}/leave", {}, token=self.bob)
        self.assertEqual(r.code, 200)
        await self.send(self.alice, room_id, "after bob left", "t100")
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=5", token=self.bob)
        bodies = [e["content"].get("body") for e in r.json["chunk"]]
        self.assertNotIn("after bob left", bodies)
        r = await self.get(f"{V3}/joined_rooms", token=self.bob)
        self.assertEqual(r.json["joined_rooms"], [])

    async def test_outsiders_see_nothing(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        room = quote(room_id)
        event_id = await self.send(self.alice, room_id, "secret", "t1")
        for path in (f"/rooms/{room}/state", f"/rooms/{room}/members", f"/rooms/{room}/messages?dir=b",
                     f"/rooms/{room}/joined_members"):
            self.assert_error(await self.get(V3 + path, token=self.bob), 403, "M_FORBIDDEN")
        r = await self.get(f"{V3}/rooms/{room}/event/{quote(event_id)}", token=self.bob)
        self.assert_error(r, 404, "M_NOT_FOUND")
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{room}/join", {}, 403, "M_FORBIDDEN",
                                                  token=self.bob)

    async def test_shared_history_visible_after_joining(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        await self.send(self.alice, room_id, "before bob", "t1")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/messages?dir=b", token=self.bob)
        self.assertIn("before bob", [e["content"].get("body") for e in r.json["chunk"]])

    async def test_kick_ban_unban_and_powers(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        room = quote(room_id)
        await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        # Bob (power 0) cannot kick Alice, nor change the name.
        r = await self.post(f"{V3}/rooms/{room}/kick", {"user_id": "@alice:test"}, token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.request("PUT", f"{V3}/rooms/{room}/state/m.room.name", {"name": "x"}, token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.post(f"{V3}/rooms/{room}/ban", {"user_id": "@bob:test", "reason": "spam"}, token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.post(f"{V3}/rooms/{room}/unban", {"user_id": "@bob:test"}, token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        self.assertEqual(r.code, 200)
        r = await self.post(f"{V3}/rooms/{room}/kick", {"user_id": "@bob:test"}, token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.get(f"{V3}/rooms/{room}/state/m.room.member/@bob:test", token=self.alice)
        self.assertEqual(r.json["membership"], "leave")

    async def test_redaction(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        room = quote(room_id)
        await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        mine = await self.send(self.bob, room_id, "oops", "t1")
        alices = await self.send(self.alice, room_id, "hello", "t2")
        r = await self.request("PUT", f"{V3}/rooms/{room}/redact/{quote(alices)}/r1", {}, token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.request("PUT", f"{V3}/rooms/{room}/redact/{quote(mine)}/r2", {"reason": "typo"},
                               token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        redaction_id = r.json["event_id"]
        r = await self.get(f"{V3}/rooms/{room}/event/{quote(mine)}", token=self.alice)
        self.assertEqual(r.json["content"], {})
        because = r.json["unsigned"]["redacted_because"]
        self.assertEqual((because["event_id"], because["type"], because["sender"], because["content"]["reason"]),
                         (redaction_id, "m.room.redaction", "@bob:test", "typo"))
        r = await self.get(f"{V3}/rooms/{room}/event/{quote(redaction_id)}", token=self.alice)
        self.assertEqual(r.json["redacts"], mine)
        self.assertEqual(r.json["content"]["redacts"], mine)  # v12 puts it in content
        # Alice (power 100) may redact Bob's events.
        other = await self.send(self.bob, room_id, "more", "t3")
        r = await self.request("PUT", f"{V3}/rooms/{room}/redact/{quote(other)}/r3", {}, token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.request("PUT", f"{V3}/rooms/{room}/redact/{quote('$nope')}/r4", {}, token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")

    async def test_bad_input(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        room = quote(room_id)
        await self.assert_rejected_without_change("PUT", f"{V3}/rooms/nonsense/send/m.room.message/t1", {}, 400,
                                                  "M_INVALID_PARAM", token=self.alice)
        await self.assert_rejected_without_change("PUT", f"{V3}/rooms/{quote('!nope:test')}/send/m.room.message/t1",
                                                  {}, 404, "M_NOT_FOUND", token=self.alice)
        await self.assert_rejected_without_change("PUT", f"{V3}/rooms/{room}/send/m.room.message/t1", None, 400,
                                                  "M_NOT_JSON", token=self.alice, raw_body=b"[")
        big = {"body": "x" * 70000}
        await self.assert_rejected_without_change("PUT", f"{V3}/rooms/{room}/send/m.room.message/t2", big, 413,
                                                  "M_TOO_LARGE", token=self.alice)
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{room}/invite", {"user_id": "bob"}, 400,
                                                  "M_INVALID_PARAM", token=self.alice)
        await self.assert_rejected_without_change("POST", f"{V3}/rooms/{room}/invite", {"user_id": "@ghost:test"},
                                                  404, "M_NOT_FOUND", token=self.alice)
        r = await self.get(f"{V3}/rooms/{room}/messages", token=self.alice)
        self.assert_error(r, 400, "M_MISSING_PARAM")
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=b&from=garbage", token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"{V3}/rooms/{room}/state/m.room.topic/", token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")


class PrevContentTest(RoomsTestCase):
    async def test_state_changes_carry_prev_content(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, name="First")
        room = quote(room_id)
        r = await self.request("PUT", f"{V3}/rooms/{room}/state/m.room.name", {"name": "Second"}, token=self.alice)
        second = r.json["event_id"]
        r = await self.get(f"{V3}/rooms/{room}/event/{quote(second)}", token=self.alice)
        self.assertEqual(r.json["unsigned"]["prev_content"], {"name": "First"})
        self.assertIn("replaces_state", r.json["unsigned"])
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=1", token=self.alice)
        self.assertEqual(r.json["chunk"][0]["unsigned"]["prev_content"], {"name": "First"})


class SameMillisecondRoomsTest(RoomsTestCase):
    async def test_identical_v12_rooms_in_the_same_millisecond(self) -> None:
        await self.users()
        first = await self.create(self.alice, room_version="12")
        second = await self.create(self.alice, room_version="12")  # the fake clock has not moved
        self.assertNotEqual(first, second)
        r = await self.get(f"{V3}/joined_rooms", token=self.alice)
        self.assertEqual(set(r.json["joined_rooms"]), {first, second})


class StateStorageTest(RoomsTestCase):
    async def test_thousand_state_changes_do_not_copy_the_state(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        room = quote(room_id)
        count = lambda t: self.hs.database.execute("count", f"SELECT COUNT(*) FROM {t}")  # noqa: E731
        before_entries = (await count("state_group_entries"))[0][0]
        for i in range(1000):
            r = await self.request("PUT", f"{V3}/rooms/{room}/state/org.example.item/{i}", {"n": i},
                                   token=self.alice)
            self.assertEqual(r.code, 200, r.json)
        entries = (await count("state_group_entries"))[0][0] - before_entries
        state = await self.get(f"{V3}/rooms/{room}/state", token=self.alice)
        self.assertGreater(len(state.json), 1000)
        # A copy of the whole state per event would be about 1000 * 1000 / 2 rows; deltas are one
        # row per change plus a snapshot every MAX_DELTA_DEPTH changes.
        self.assertLess(entries, 30_000)
        self.assertLess(entries * 15, 1000 * 1000 // 2)


class MembersAtTest(RoomsTestCase):
    async def test_members_at_a_sync_token(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        room = quote(room_id)
        before = (await self.get(f"{V3}/sync", token=self.alice)).json["next_batch"]
        await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        r = await self.get(f"{V3}/rooms/{room}/members?at={before}", token=self.alice)
        self.assertEqual([e["state_key"] for e in r.json["chunk"]], ["@alice:test"])
        r = await self.get(f"{V3}/rooms/{room}/members", token=self.alice)
        self.assertEqual([e["state_key"] for e in r.json["chunk"]], ["@alice:test", "@bob:test"])
        r = await self.get(f"{V3}/rooms/{room}/members?at=nonsense", token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")
