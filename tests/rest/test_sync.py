"""/sync: initial and incremental, long-poll woken by an event (fake clock), invites, leaves,
state deltas, lazy-loaded members, state_after, transaction ids."""

import json
from urllib.parse import quote

from twisted.internet import defer

from tests.rest.test_rooms import V3, RoomsTestCase


class SyncTest(RoomsTestCase):
    async def sync(self, token: str, since: str | None = None, **params) -> dict:
        query = "&".join([f"since={since}"] * (since is not None) + [f"{k}={quote(str(v))}" for k, v in params.items()])
        r = await self.get(f"{V3}/sync?{query}", token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def test_initial_and_incremental(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, name="Chat")
        first = await self.sync(self.alice)
        room = first["rooms"]["join"][room_id]
        types = [e["type"] for e in room["timeline"]["events"]]
        self.assertIn("m.room.create", types + [e["type"] for e in room["state"]["events"]])
        self.assertEqual(room["summary"]["m.joined_member_count"], 1)

        sent = await self.send(self.alice, room_id, "hello", "t1")
        second = await self.sync(self.alice, first["next_batch"])
        room = second["rooms"]["join"][room_id]
        self.assertEqual([e["event_id"] for e in room["timeline"]["events"]], [sent])
        self.assertFalse(room["timeline"]["limited"])
        self.assertEqual(room["state"]["events"], [])
        # The sending device gets its transaction ID back.
        self.assertEqual(room["timeline"]["events"][0]["unsigned"]["transaction_id"], "t1")
        # Nothing new: no rooms.
        third = await self.sync(self.alice, second["next_batch"])
        self.assertEqual(third.get("rooms", {}), {})
        self.assertEqual(third["next_batch"], second["next_batch"])

    async def test_limited_timeline_and_state_delta(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        start = await self.sync(self.alice)
        await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic", {"topic": "new"},
                           token=self.alice)
        for i in range(5):
            await self.send(self.alice, room_id, f"m{i}", f"t{i}")
        flt = '{"room":{"timeline":{"limit":2}}}'
        result = await self.sync(self.alice, start["next_batch"], filter=flt)
        room = result["rooms"]["join"][room_id]
        self.assertTrue(room["timeline"]["limited"])
        self.assertEqual([e["content"]["body"] for e in room["timeline"]["events"]], ["m3", "m4"])
        self.assertEqual([e["type"] for e in room["state"]["events"]], ["m.room.topic"])
        # prev_batch continues into /messages.
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/messages?dir=b&limit=3&from={room['timeline']['prev_batch']}",
                           token=self.alice)
        self.assertEqual([e["content"].get("body") for e in r.json["chunk"]], ["m2", "m1", "m0"])
        # state_after: the change up to the end of the timeline.
        result = await self.sync(self.alice, start["next_batch"], filter=flt, use_state_after="true")
        room = result["rooms"]["join"][room_id]
        self.assertNotIn("state", room)
        self.assertEqual([e["type"] for e in room["state_after"]["events"]], ["m.room.topic"])
        # The unstable name (MSC4222, sent by matrix-js-sdk) is answered under the unstable key.
        result = await self.sync(self.alice, start["next_batch"], filter=flt,
                                 **{"org.matrix.msc4222.use_state_after": "true"})
        room = result["rooms"]["join"][room_id]
        self.assertNotIn("state", room)
        self.assertNotIn("state_after", room)
        self.assertEqual([e["type"] for e in room["org.matrix.msc4222.state_after"]["events"]], ["m.room.topic"])

    async def test_invite_join_leave(self) -> None:
        await self.users()
        bob_start = await self.sync(self.bob)
        room_id = await self.create(self.alice, name="Party", invite=["@bob:test"])
        invited = await self.sync(self.bob, bob_start["next_batch"])
        stripped = invited["rooms"]["invite"][room_id]["invite_state"]["events"]
        self.assertIn(("m.room.name", "Party"), [(e["type"], e["content"].get("name")) for e in stripped])
        self.assertIn(("m.room.member", "@bob:test"), [(e["type"], e["state_key"]) for e in stripped])
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        joined = await self.sync(self.bob, invited["next_batch"])
        room = joined["rooms"]["join"][room_id]
        state_types = {e["type"] for e in room["state"]["events"]} | {e["type"] for e in room["timeline"]["events"]}
        self.assertIn("m.room.create", state_types)  # a new join gets the full state
        await self.post(f"{V3}/rooms/{quote(room_id)}/leave", {}, token=self.bob)
        await self.send(self.alice, room_id, "after bob", "t9")
        left = await self.sync(self.bob, joined["next_batch"])
        leave = left["rooms"]["leave"][room_id]
        self.assertEqual(leave["timeline"]["events"][-1]["content"]["membership"], "leave")
        self.assertNotIn("after bob", [e["content"].get("body") for e in leave["timeline"]["events"]])
        self.assertNotIn(room_id, left["rooms"].get("join", {}))

    async def test_lazy_loaded_members(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        for i in range(3):
            await self.send(self.alice, room_id, f"m{i}", f"t{i}")
        flt = '{"room":{"timeline":{"limit":2},"state":{"lazy_load_members":true}}}'
        result = await self.sync(self.bob, filter=flt)
        room = result["rooms"]["join"][room_id]
        members = {e["state_key"] for e in room["state"]["events"] if e["type"] == "m.room.member"}
        self.assertEqual(members, {"@alice:test", "@bob:test"} - {e["state_key"] for e in room["timeline"]["events"]
                                                                   if e["type"] == "m.room.member"})

    async def test_state_after_with_lazy_members_has_the_timelines_member_changes(self) -> None:
        # Clients apply only state_after: a kick in the timeline (sent by alice, about bob) must be
        # there, or bob stays "joined" in their member list.
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        flt = '{"room":{"state":{"lazy_load_members":true}}}'
        start = await self.sync(self.alice, filter=flt, use_state_after="true")
        await self.post(f"{V3}/rooms/{quote(room_id)}/kick", {"user_id": "@bob:test"}, token=self.alice)
        result = await self.sync(self.alice, start["next_batch"], filter=flt, use_state_after="true")
        room = result["rooms"]["join"][room_id]
        members = {e["state_key"]: e["content"]["membership"] for e in room["state_after"]["events"]
                   if e["type"] == "m.room.member"}
        self.assertEqual(members.get("@bob:test"), "leave")

    async def test_long_poll_woken_by_an_event(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        since = (await self.sync(self.bob))["next_batch"]
        waiting = defer.ensureDeferred(self.get(f"{V3}/sync?since={since}&timeout=30000", token=self.bob))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        self.assertFalse(waiting.called)
        self.assertEqual(self.hs.notifier.waiter_count(), 1)
        sent = await self.send(self.alice, room_id, "wake up", "t1")
        r = await waiting
        self.assertEqual([e["event_id"] for e in r.json["rooms"]["join"][room_id]["timeline"]["events"]], [sent])
        self.assertEqual(self.hs.notifier.waiter_count(), 0)

    async def test_long_poll_times_out_on_the_clock(self) -> None:
        await self.users()
        since = (await self.sync(self.bob))["next_batch"]
        waiting = defer.ensureDeferred(self.get(f"{V3}/sync?since={since}&timeout=10000", token=self.bob))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        self.advance(9)
        await self.pump()
        self.assertFalse(waiting.called)
        self.advance(2)
        r = await waiting
        self.assertEqual(r.json["next_batch"], since)
        # An invite wakes an invitee who waits on no room yet.
        waiting = defer.ensureDeferred(self.get(f"{V3}/sync?since={since}&timeout=30000", token=self.bob))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        room_id = await self.create(self.alice, invite=["@bob:test"])
        r = await waiting
        self.assertIn(room_id, r.json["rooms"]["invite"])

    async def test_bad_input(self) -> None:
        await self.users()
        for query, errcode in (("since=s999999", "M_INVALID_PARAM"), ("since=bogus", "M_INVALID_PARAM"),
                               ("timeout=soon", "M_INVALID_PARAM"), ("filter=%7Bnope", "M_NOT_JSON"),
                               ("set_presence=busy", "M_INVALID_PARAM")):
            r = await self.get(f"{V3}/sync?{query}", token=self.alice)
            self.assert_error(r, 400, errcode)
        r = await self.get(f"{V3}/sync?filter=12345", token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")

    async def test_room_and_type_filters(self) -> None:
        await self.users()
        room_a = await self.create(self.alice, name="A")
        room_b = await self.create(self.alice, name="B")
        await self.send(self.alice, room_a, "in a", "t1")
        flt = json.dumps({"room": {"rooms": [room_a], "timeline": {"types": ["m.room.message"]}},
                          "account_data": {"not_types": ["*"]}})
        result = await self.sync(self.alice, filter=flt)
        self.assertEqual(set(result["rooms"]["join"]), {room_a})
        self.assertNotIn(room_b, result["rooms"]["join"])
        self.assertEqual({e["type"] for e in result["rooms"]["join"][room_a]["timeline"]["events"]}, {"m.room.message"})
        self.assertNotIn("account_data", result)
        # A first sync carries the default push rules as account data.
        full = await self.sync(self.alice)
        rules = [e for e in full["account_data"]["events"] if e["type"] == "m.push_rules"]
        self.assertIn("override", rules[0]["content"]["global"])

    async def test_ignored_users(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        room_id = await self.create(self.alice, preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        r = await self.request("PUT", f"{V3}/user/@bob:test/account_data/m.ignored_user_list",
                               {"ignored_users": {"@alice:test": {}, "@carol:test": {}}}, token=self.bob)
        self.assertEqual(r.code, 200)
        since = (await self.sync(self.bob))["next_batch"]
        await self.send(self.alice, room_id, "you will not see this", "t1")
        await self.send(self.bob, room_id, "but this", "t2")
        result = await self.sync(self.bob, since)
        bodies = [e["content"].get("body") for e in result["rooms"]["join"][room_id]["timeline"]["events"]]
        self.assertEqual(bodies, ["but this"])
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/messages?dir=b&limit=50", token=self.bob)
        self.assertNotIn("@alice:test", {e["sender"] for e in r.json["chunk"]})
        # An invite from an ignored user does not show up.
        other = await self.create(carol, invite=["@bob:test"])
        result = await self.sync(self.bob, result["next_batch"])
        self.assertNotIn(other, result.get("rooms", {}).get("invite", {}))
