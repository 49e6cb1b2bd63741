"""The deprecated pre-/sync API: GET /initialSync, /rooms/{roomId}/initialSync, /events (with its
long-poll and peeking) and /events/{eventId}."""

from urllib.parse import quote

from twisted.internet import defer

from homeserver.handlers import event_stream
from tests.rest.test_rooms import RoomsTestCase

V3 = "/_matrix/client/v3"


class OldSyncTestCase(RoomsTestCase):
    async def put_state(self, token: str, room_id: str, event_type: str, content: dict) -> None:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/{event_type}/", content, token=token)
        self.assertEqual(r.code, 200, r.json)

    async def ok(self, path: str, token: str) -> dict:
        r = await self.get(path, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json


class InitialSyncTest(OldSyncTestCase):
    async def test_joined_invited_and_archived_rooms(self) -> None:
        await self.users()
        joined = await self.create(self.alice, name="Joined")
        sent = [await self.send(self.alice, joined, f"m{i}", f"t{i}") for i in range(3)]
        left = await self.create(self.alice)
        before_leaving = await self.send(self.alice, left, "bye", "t9")
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(left)}/leave", {}, token=self.alice)).code, 200)
        invited = await self.create(self.bob, invite=["@alice:test"])
        r = await self.request("PUT", f"{V3}/user/@alice:test/rooms/{quote(joined)}/account_data/org.example.note",
                               {"n": 1}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("PUT", f"{V3}/user/@alice:test/account_data/org.example.global", {"g": 2},
                               token=self.alice)
        self.assertEqual(r.code, 200, r.json)

        body = await self.ok(f"{V3}/initialSync?limit=2", self.alice)
        self.assertTrue(body["end"].startswith("s"))
        self.assertIsInstance(body["presence"], list)
        self.assertIn({"type": "org.example.global", "content": {"g": 2}}, body["account_data"])
        rooms = {room["room_id"]: room for room in body["rooms"]}
        self.assertEqual(set(rooms), {joined, invited})  # not the left room: archived defaults to false

        room = rooms[joined]
        self.assertEqual(room["membership"], "join")
        self.assertEqual([e["event_id"] for e in room["messages"]["chunk"]], sent[1:])  # oldest first, limit 2
        self.assertEqual(room["messages"]["end"], body["end"])
        self.assertEqual(room["visibility"], "private")
        self.assertEqual(room["account_data"], [{"type": "org.example.note", "content": {"n": 1}}])
        state = {(e["type"], e["state_key"]): e for e in room["state"]}
        self.assertEqual(state[("m.room.name", "")]["content"], {"name": "Joined"})
        self.assertEqual(state[("m.room.member", "@alice:test")]["content"]["membership"], "join")
        # `start` pages back into the earlier history with /messages.
        earlier = await self.ok(f"{V3}/rooms/{quote(joined)}/messages?dir=b&limit=1&from={room['messages']['start']}",
                                self.alice)
        self.assertEqual([e["event_id"] for e in earlier["chunk"]], [sent[0]])

        invite = rooms[invited]
        self.assertEqual(invite["membership"], "invite")
        self.assertEqual((invite["invite"]["type"], invite["invite"]["state_key"], invite["invite"]["sender"]),
                         ("m.room.member", "@alice:test", "@bob:test"))
        self.assertNotIn("messages", invite)

        body = await self.ok(f"{V3}/initialSync?archived=true&limit=1", self.alice)
        rooms = {room["room_id"]: room for room in body["rooms"]}
        self.assertEqual(set(rooms), {joined, invited, left})
        room = rooms[left]
        self.assertEqual(room["membership"], "leave")
        [leave] = room["messages"]["chunk"]  # history stops at the user's own leave event
        self.assertEqual((leave["type"], leave["content"]["membership"]), ("m.room.member", "leave"))
        members = {e["state_key"]: e["content"]["membership"] for e in room["state"] if e["type"] == "m.room.member"}
        self.assertEqual(members["@alice:test"], "leave")
        earlier = await self.ok(f"{V3}/rooms/{quote(left)}/messages?dir=b&limit=1&from={room['messages']['start']}",
                                self.alice)
        self.assertEqual([e["event_id"] for e in earlier["chunk"]], [before_leaving])

        # Forgotten rooms are gone from the archive; limit=0 gives no messages.
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(left)}/forget", {}, token=self.alice)).code, 200)
        body = await self.ok(f"{V3}/initialSync?archived=true&limit=0", self.alice)
        rooms = {room["room_id"]: room for room in body["rooms"]}
        self.assertNotIn(left, rooms)
        self.assertEqual(rooms[joined]["messages"]["chunk"], [])

    async def test_bad_input(self) -> None:
        await self.users()
        for query in ("limit=-1", "limit=many", "archived=yes"):
            r = await self.get(f"{V3}/initialSync?{query}", token=self.alice)
            self.assert_error(r, 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{V3}/initialSync"), 401, "M_MISSING_TOKEN")


class RoomInitialSyncTest(OldSyncTestCase):
    async def test_member_outsider_and_peeking(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat", visibility="public", topic="Hello")
        sent = await self.send(self.alice, room_id, "hi", "t1")
        body = await self.ok(f"{V3}/rooms/{quote(room_id)}/initialSync", self.alice)
        self.assertEqual((body["room_id"], body["membership"], body["visibility"]), (room_id, "join", "public"))
        self.assertEqual(body["messages"]["chunk"][-1]["event_id"], sent)
        self.assertIn("m.room.topic", {e["type"] for e in body["state"]})
        self.assertEqual(body["account_data"], [])

        # Bob is no member, and the history is only for members ("shared"): 403.
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/initialSync", token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.get(f"{V3}/rooms/{quote('!nowhere:test')}/initialSync", token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        r = await self.get(f"{V3}/rooms/not-a-room/initialSync", token=self.bob)
        self.assert_error(r, 400, "M_INVALID_PARAM")

        # World readable: Bob peeks in, with no membership to report.
        await self.put_state(self.alice, room_id, "m.room.history_visibility", {"history_visibility": "world_readable"})
        later = await self.send(self.alice, room_id, "for everyone", "t2")
        body = await self.ok(f"{V3}/rooms/{quote(room_id)}/initialSync", self.bob)
        self.assertNotIn("membership", body)
        # Each event is visible by the setting it was sent under: not the one from before (the change
        # to world_readable is, by the setting after it).
        self.assertEqual([(e["type"], e.get("event_id")) for e in body["messages"]["chunk"]][-1:],
                         [("m.room.message", later)])
        self.assertEqual([e["type"] for e in body["messages"]["chunk"]],
                         ["m.room.history_visibility", "m.room.message"])
        self.assertIn("m.room.topic", {e["type"] for e in body["state"]})

    async def test_left_room_stops_where_the_user_left(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)).code, 200)
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(room_id)}/leave", {}, token=self.bob)).code, 200)
        await self.send(self.alice, room_id, "after bob left", "t1")
        await self.put_state(self.alice, room_id, "m.room.topic", {"topic": "later"})
        body = await self.ok(f"{V3}/rooms/{quote(room_id)}/initialSync", self.bob)
        self.assertEqual(body["membership"], "leave")
        last = body["messages"]["chunk"][-1]
        self.assertEqual((last["type"], last["state_key"], last["content"]["membership"]),
                         ("m.room.member", "@bob:test", "leave"))
        self.assertNotIn("m.room.topic", {e["type"] for e in body["state"]})


class EventsTest(OldSyncTestCase):
    async def test_events_after_a_token_then_long_poll(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        other = await self.create(self.alice)  # Bob is not in this one
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)).code, 200)
        start = (await self.ok(f"{V3}/initialSync?limit=0", self.bob))["end"]
        first = await self.send(self.alice, room_id, "one", "t1")
        await self.send(self.alice, other, "secret", "t2")
        second = await self.send(self.alice, room_id, "two", "t3")

        body = await self.ok(f"{V3}/events?from={start}", self.bob)
        self.assertEqual(body["start"], start)
        self.assertEqual([e["event_id"] for e in body["chunk"]], [first, second])
        self.assertEqual(body["chunk"][0]["room_id"], room_id)
        self.assertEqual(body["chunk"][0]["content"]["body"], "one")

        # Nothing newer: the request waits on the notifier until Alice sends.
        end = body["end"]
        waiting = defer.ensureDeferred(self.get(f"{V3}/events?from={end}&timeout=30000", token=self.bob))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        self.assertFalse(waiting.called)
        third = await self.send(self.alice, room_id, "three", "t4")
        r = await waiting
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], [third])
        self.assertEqual(r.json["start"], end)
        self.assertEqual(self.hs.notifier.waiter_count(), 0)

        # Or until its timeout passes on the server's clock, with nothing new.
        end = r.json["end"]
        waiting = defer.ensureDeferred(self.get(f"{V3}/events?from={end}&timeout=10000", token=self.bob))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        self.advance(9)
        await self.pump()
        self.assertFalse(waiting.called)
        self.advance(2)
        r = await waiting
        self.assertEqual((r.json["chunk"], r.json["start"], r.json["end"]), ([], end, end))

        # Without `from`, the stream starts now.
        body = await self.ok(f"{V3}/events", self.bob)
        self.assertEqual((body["chunk"], body["start"]), ([], end))

    async def test_leave_and_invite_are_news(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        self.assertEqual((await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)).code, 200)
        start = (await self.ok(f"{V3}/initialSync?limit=0", self.bob))["end"]
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/kick", {"user_id": "@bob:test"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        await self.send(self.alice, room_id, "not for bob", "t1")
        invited = await self.create(self.alice, invite=["@bob:test"])
        body = await self.ok(f"{V3}/events?from={start}", self.bob)
        seen = [(e["room_id"], e["type"], e.get("state_key"), e["content"].get("membership")) for e in body["chunk"]]
        self.assertEqual(seen, [(room_id, "m.room.member", "@bob:test", "leave"),
                                (invited, "m.room.member", "@bob:test", "invite")])

    async def test_pages_of_at_most_max_events(self) -> None:
        self.patch(event_stream, "MAX_EVENTS", 2)
        await self.users()
        room_id = await self.create(self.alice)
        start = (await self.ok(f"{V3}/initialSync?limit=0", self.alice))["end"]
        sent = [await self.send(self.alice, room_id, f"m{i}", f"t{i}") for i in range(5)]
        got, token = [], start
        for _ in range(4):
            body = await self.ok(f"{V3}/events?from={token}", self.alice)
            self.assertLessEqual(len(body["chunk"]), 2)
            got += [e["event_id"] for e in body["chunk"]]
            token = body["end"]
        self.assertEqual(got, sent)

    async def test_peeking_into_a_world_readable_room(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        start = (await self.ok(f"{V3}/initialSync?limit=0", self.bob))["end"]
        r = await self.get(f"{V3}/events?from={start}&room_id={quote(room_id)}", token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        await self.put_state(self.alice, room_id, "m.room.history_visibility", {"history_visibility": "world_readable"})
        sent = await self.send(self.alice, room_id, "for everyone", "t1")
        body = await self.ok(f"{V3}/events?from={start}&room_id={quote(room_id)}", self.bob)
        self.assertEqual(body["chunk"][-1]["event_id"], sent)
        # The plain form shows only Bob's own rooms: none.
        self.assertEqual((await self.ok(f"{V3}/events?from={start}", self.bob))["chunk"], [])
        # A peek long-polls on that room.
        waiting = defer.ensureDeferred(self.get(f"{V3}/events?from={body['end']}&room_id={quote(room_id)}"
                                                f"&timeout=30000", token=self.bob))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        later = await self.send(self.alice, room_id, "more", "t2")
        r = await waiting
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], [later])

    async def test_bad_input(self) -> None:
        await self.users()
        for query in ("from=bogus", "from=s999999", "timeout=soon", "timeout=-5", "room_id=nope"):
            r = await self.get(f"{V3}/events?{query}", token=self.bob)
            self.assert_error(r, 400, "M_INVALID_PARAM")
        r = await self.get(f"{V3}/events?room_id={quote('!nowhere:test')}", token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        self.assert_error(await self.get(f"{V3}/events"), 401, "M_MISSING_TOKEN")


class EventByIdTest(OldSyncTestCase):
    async def test_get_event_by_id(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        sent = await self.send(self.alice, room_id, "hello", "t1")
        body = await self.ok(f"{V3}/events/{quote(sent)}", self.alice)
        self.assertEqual((body["event_id"], body["room_id"], body["content"]["body"]), (sent, room_id, "hello"))
        r = await self.get(f"{V3}/events/{quote(sent)}", token=self.bob)  # not in the room: not told it exists
        self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.get(f"{V3}/events/{quote('$nope')}", token=self.alice)
        self.assert_error(r, 404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{V3}/events/{quote(sent)}"), 401, "M_MISSING_TOKEN")
