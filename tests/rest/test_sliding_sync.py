"""Simplified sliding sync (MSC4186): lists, ranges and filters, room subscriptions,
required_state ($LAZY, $ME, wildcards), per-connection state (only what changed, PREVIOUSLY rooms,
retries), M_UNKNOWN_POS, long-polling on the notifier, the extensions, and an incremental
sequence checked response by response."""

from typing import Any
from urllib.parse import quote

from twisted.internet import defer

from tests.rest.e2e_support import E2ETestCase
from tests.rest.test_rooms import V3, RoomsTestCase

SSS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
ALL_STATE = [["*", "*"]]
ELEMENT_X_STATE = [["m.room.name", ""], ["m.room.encryption", ""], ["m.room.member", "$LAZY"],
                   ["m.room.member", "$ME"], ["m.room.topic", ""], ["m.room.create", ""]]


def all_rooms(ranges: Any = ((0, 19),), timeline_limit: int = 1, required_state: Any = None, **extra: Any) -> dict:
    spec: dict[str, Any] = {"timeline_limit": timeline_limit,
                            "required_state": ELEMENT_X_STATE if required_state is None else required_state, **extra}
    if ranges is not None:
        spec["ranges"] = [list(r) for r in ranges]
    return spec


class SlidingSyncTestCase(RoomsTestCase):
    async def sss(self, token: str, body: dict, pos: str | None = None, timeout: int | None = None,
                  expect: int = 200) -> dict:
        query = "&".join(([f"pos={quote(pos)}"] if pos is not None else [])
                         + ([f"timeout={timeout}"] if timeout is not None else []))
        r = await self.post(f"{SSS}?{query}", body, token=token)
        self.assertEqual(r.code, expect, r.json)
        return r.json

    def start(self, token: str, body: dict, pos: str, timeout: int) -> defer.Deferred:
        return defer.ensureDeferred(self.post(f"{SSS}?pos={quote(pos)}&timeout={timeout}", body, token=token))

    async def room_named(self, token: str, name: str, **extra: Any) -> str:
        return await self.create(token, name=name, **extra)

    async def state(self, token: str, room_id: str, event_type: str, content: dict, state_key: str = "") -> None:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/{event_type}/{state_key}", content,
                               token=token)
        self.assertEqual(r.code, 200, r.json)

    async def join(self, token: str, room_id: str) -> None:
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=token)
        self.assertEqual(r.code, 200, r.json)


def ids(room: dict, key: str = "timeline") -> list[str]:
    return [e["event_id"] for e in room.get(key, [])]


def bodies(room: dict) -> list[str]:
    return [e["content"].get("body") for e in room.get("timeline", []) if e["type"] == "m.room.message"]


def state_keys(room: dict) -> set[tuple[str, str]]:
    return {(e["type"], e["state_key"]) for e in room.get("required_state", [])}


class BasicsTest(SlidingSyncTestCase):
    async def test_versions_advertises_it(self) -> None:
        r = await self.get("/_matrix/client/versions")
        self.assertIs(r.json["unstable_features"]["org.matrix.simplified_msc3575"], True)

    async def test_initial_list_rooms_and_fields(self) -> None:
        await self.users()
        named = await self.room_named(self.alice, "Named")
        dm = await self.create(self.alice, invite=["@bob:test"], is_direct=True)
        await self.join(self.bob, dm)
        await self.send(self.alice, named, "hello", "t1")
        body = await self.sss(self.alice, {"lists": {"all_rooms": all_rooms(timeline_limit=2)}})
        self.assertRegex(body["pos"], r"^\d+/s\d+")
        listed = body["lists"]["all_rooms"]
        self.assertEqual(listed["count"], 2)
        # The latest message lifts a room to the top.
        self.assertEqual(listed["ops"], [{"op": "SYNC", "range": [0, 19], "room_ids": [named, dm]}])
        room = body["rooms"][named]
        self.assertTrue(room["initial"])
        self.assertEqual(room["name"], "Named")
        self.assertNotIn("heroes", room)
        self.assertEqual(bodies(room), ["hello"])
        self.assertEqual(len(room["timeline"]), 2)
        self.assertTrue(room["limited"])
        self.assertEqual(room["num_live"], 0)
        self.assertEqual(room["joined_count"], 1)
        self.assertEqual(room["invited_count"], 0)
        self.assertEqual((room["notification_count"], room["highlight_count"]), (0, 0))
        self.assertIsInstance(room["bump_stamp"], int)
        self.assertIn(("m.room.name", ""), state_keys(room))
        self.assertIn(("m.room.member", "@alice:test"), state_keys(room))  # $ME
        self.assertIn(("m.room.create", ""), state_keys(room))
        self.assertNotIn(("m.room.power_levels", ""), state_keys(room))
        # prev_batch continues into /messages.
        r = await self.get(f"{V3}/rooms/{quote(named)}/messages?dir=b&limit=50&from={room['prev_batch']}",
                           token=self.alice)
        self.assertEqual(r.code, 200)
        self.assertIn("m.room.create", [e["type"] for e in r.json["chunk"]])
        direct = body["rooms"][dm]
        self.assertNotIn("name", direct)
        self.assertEqual(direct["heroes"], [{"user_id": "@bob:test", "displayname": "bob"}])
        self.assertEqual(direct["joined_count"], 2)
        self.assertGreater(body["rooms"][named]["bump_stamp"], direct["bump_stamp"])

    async def test_ranges_and_counts(self) -> None:
        await self.users()
        rooms = [await self.room_named(self.alice, f"R{i}") for i in range(5)]
        newest_first = list(reversed(rooms))
        body = await self.sss(self.alice, {"lists": {"a": all_rooms(ranges=[(0, 1), (3, 10)])}})
        ops = body["lists"]["a"]["ops"]
        self.assertEqual(body["lists"]["a"]["count"], 5)
        self.assertEqual(ops[0]["room_ids"], newest_first[:2])
        self.assertEqual(ops[1]["room_ids"], newest_first[3:])
        self.assertEqual(set(body["rooms"]), set(newest_first[:2] + newest_first[3:]))
        # No ranges, or slow_get_all_rooms: the whole list.
        body = await self.sss(self.alice, {"lists": {"a": all_rooms(ranges=None),
                                                     "b": all_rooms(ranges=[(0, 0)], slow_get_all_rooms=True)}})
        self.assertEqual(body["lists"]["a"]["ops"][0]["room_ids"], newest_first)
        self.assertEqual(body["lists"]["b"]["ops"][0]["room_ids"], newest_first)

    async def test_bad_requests(self) -> None:
        await self.users()
        for body, errcode in (
            ({"lists": {"a": {"required_state": []}}}, "M_MISSING_PARAM"),
            ({"lists": {"a": {"timeline_limit": 1001, "required_state": []}}}, "M_INVALID_PARAM"),
            ({"lists": {"a": {"timeline_limit": "1", "required_state": []}}}, "M_BAD_JSON"),
            ({"lists": {"a": {"timeline_limit": 1, "required_state": [["only-one"]]}}}, "M_INVALID_PARAM"),
            ({"lists": {"a": all_rooms(ranges=[(5, 2)])}}, "M_INVALID_PARAM"),
            ({"lists": {"x" * 65: all_rooms()}}, "M_INVALID_PARAM"),
            ({"lists": {f"l{i}": all_rooms() for i in range(101)}}, "M_INVALID_PARAM"),
            ({"room_subscriptions": {"!r:test": {"timeline_limit": -1, "required_state": []}}}, "M_INVALID_PARAM"),
            ({"extensions": {"to_device": {"enabled": True, "since": "nope"}}}, "M_INVALID_PARAM"),
            ({"extensions": {"to_device": {"enabled": True, "limit": 500}}}, "M_INVALID_PARAM"),
        ):
            r = await self.post(SSS, body, token=self.alice)
            self.assert_error(r, 400, errcode)
        r = await self.post(SSS, {})
        self.assertEqual(r.code, 401)
        # Unknown positions, all M_UNKNOWN_POS: unparseable, never issued, ahead of the stream.
        for pos in ("garbage", "5/s1", "0/s99999999", "x/s1", "1/bogus"):
            r = await self.post(f"{SSS}?pos={quote(pos)}", {"lists": {"a": all_rooms()}}, token=self.alice)
            self.assert_error(r, 400, "M_UNKNOWN_POS")
        # Another user's position is not theirs.
        await self.room_named(self.alice, "A")
        pos = (await self.sss(self.alice, {"lists": {"a": all_rooms()}}))["pos"]
        r = await self.post(f"{SSS}?pos={quote(pos)}", {"lists": {"a": all_rooms()}}, token=self.bob)
        self.assert_error(r, 400, "M_UNKNOWN_POS")
        # Another conn_id of the same device neither.
        r = await self.post(f"{SSS}?pos={quote(pos)}", {"conn_id": "other", "lists": {"a": all_rooms()}},
                            token=self.alice)
        self.assert_error(r, 400, "M_UNKNOWN_POS")
        # An empty body works (nothing asked, nothing answered).
        body = await self.sss(self.alice, {})
        self.assertEqual((body["lists"], body["rooms"], body["extensions"]), ({}, {}, {}))

    async def test_expired_connection_and_recovery(self) -> None:
        await self.users()
        room_id = await self.room_named(self.alice, "A")
        req = {"lists": {"a": all_rooms()}}
        pos = (await self.sss(self.alice, req))["pos"]
        self.advance(8 * 24 * 3600)
        r = await self.post(f"{SSS}?pos={quote(pos)}", req, token=self.alice)
        self.assert_error(r, 400, "M_UNKNOWN_POS")
        # The client drops its pos and starts over: everything again.
        body = await self.sss(self.alice, req)
        self.assertTrue(body["rooms"][room_id]["initial"])


    async def test_connections_are_bounded(self) -> None:
        """Past the bound the least recently used connection goes; its client starts over."""
        from homeserver.util.caches import LruCache

        self.hs.sliding_sync_handler._connections = LruCache("test_connections", 2)
        await self.users()
        room_id = await self.room_named(self.alice, "A")
        positions = {}
        for conn_id in ("one", "two", "three"):
            body = await self.sss(self.alice, {"conn_id": conn_id, "lists": {"a": all_rooms()}})
            positions[conn_id] = body["pos"]
        r = await self.post(f"{SSS}?pos={quote(positions['one'])}", {"conn_id": "one", "lists": {"a": all_rooms()}},
                            token=self.alice)
        self.assert_error(r, 400, "M_UNKNOWN_POS")
        body = await self.sss(self.alice, {"conn_id": "three", "lists": {"a": all_rooms()}}, positions["three"])
        self.assertEqual(body["rooms"], {})
        self.assertEqual(body["lists"]["a"]["ops"][0]["room_ids"], [room_id])


class FiltersTest(SlidingSyncTestCase):
    async def test_each_filter(self) -> None:
        await self.users()
        plain = await self.room_named(self.alice, "Plain Chat")
        encrypted = await self.create(self.alice, name="Secret", initial_state=[
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
        space = await self.create(self.alice, name="Space", creation_content={"type": "m.space"})
        await self.state(self.alice, space, "m.space.child", {"via": ["test"]}, plain)
        dm = await self.create(self.alice, invite=["@bob:test"], is_direct=True)
        await self.join(self.bob, dm)
        invite = await self.create(self.bob, name="Invite", invite=["@alice:test"])
        r = await self.request("PUT", f"{V3}/user/@alice:test/account_data/m.direct", {"@bob:test": [dm]},
                               token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.request("PUT", f"{V3}/user/@alice:test/rooms/{quote(encrypted)}/tags/m.favourite", {},
                               token=self.alice)
        self.assertEqual(r.code, 200)

        async def listed(filters: dict) -> set[str]:
            body = await self.sss(self.alice, {"lists": {"f": all_rooms(filters=filters, timeline_limit=0)}})
            self.assertEqual(body["lists"]["f"]["count"], len(body["lists"]["f"]["ops"][0]["room_ids"]))
            return set(body["lists"]["f"]["ops"][0]["room_ids"])

        everything = {plain, encrypted, space, dm, invite}
        self.assertEqual(await listed({}), everything)
        self.assertEqual(await listed({"is_dm": True}), {dm})
        self.assertEqual(await listed({"is_dm": False}), everything - {dm})
        self.assertEqual(await listed({"spaces": [space]}), {plain})
        self.assertEqual(await listed({"is_encrypted": True}), {encrypted})
        self.assertEqual(await listed({"is_invite": True}), {invite})
        self.assertEqual(await listed({"is_invite": False}), everything - {invite})
        self.assertEqual(await listed({"room_types": ["m.space"]}), {space})
        self.assertEqual(await listed({"room_types": [None]}), everything - {space})
        self.assertEqual(await listed({"not_room_types": ["m.space"]}), everything - {space})
        self.assertEqual(await listed({"room_types": ["m.space"], "not_room_types": ["m.space"]}), set())
        self.assertEqual(await listed({"room_name_like": "chat"}), {plain})
        self.assertEqual(await listed({"tags": ["m.favourite"]}), {encrypted})
        self.assertEqual(await listed({"not_tags": ["m.favourite"]}), everything - {encrypted})
        self.assertEqual(await listed({"is_encrypted": False, "is_invite": False, "is_dm": False,
                                       "not_room_types": ["m.space"]}), {plain})

    async def test_required_state_forms(self) -> None:
        await self.users()
        room_id = await self.room_named(self.alice, "R", preset="public_chat")
        await self.join(self.bob, room_id)
        await self.state(self.alice, room_id, "m.room.topic", {"topic": "t"})
        await self.state(self.alice, room_id, "org.example.thing", {"a": 1}, "k1")
        await self.state(self.alice, room_id, "org.example.thing", {"a": 2}, "k2")

        async def keys(required_state: list, limit: int = 0) -> set[tuple[str, str]]:
            body = await self.sss(self.alice, {"room_subscriptions": {
                room_id: {"timeline_limit": limit, "required_state": required_state}}})
            return state_keys(body["rooms"][room_id])

        everything = await keys(ALL_STATE)
        self.assertIn(("m.room.member", "@bob:test"), everything)
        self.assertIn(("org.example.thing", "k2"), everything)
        self.assertEqual(await keys([["org.example.thing", "*"]]),
                         {("org.example.thing", "k1"), ("org.example.thing", "k2")})
        self.assertEqual(await keys([["*", "k1"]]), {("org.example.thing", "k1")})
        self.assertEqual(await keys([["m.room.member", "$ME"]]), {("m.room.member", "@alice:test")})
        self.assertEqual(await keys([["m.room.topic", ""], ["m.room.nothing", ""]]), {("m.room.topic", "")})
        self.assertEqual(await keys([]), set())
        # $LAZY: the members of the timeline's senders (and of membership targets).
        await self.send(self.bob, room_id, "from bob", "t1")
        self.assertEqual(await keys([["m.room.member", "$LAZY"]], limit=1), {("m.room.member", "@bob:test")})
        self.assertEqual(await keys([["m.room.member", "$LAZY"]], limit=0), set())

    async def test_room_subscriptions_skip_rooms_the_user_cannot_see(self) -> None:
        await self.users()
        private = await self.room_named(self.bob, "Bob's")
        mine = await self.room_named(self.alice, "Mine")
        body = await self.sss(self.alice, {"room_subscriptions": {
            private: {"timeline_limit": 5, "required_state": ALL_STATE},
            mine: {"timeline_limit": 5, "required_state": []},
            "!nowhere:test": {"timeline_limit": 5, "required_state": []}}})
        self.assertEqual(set(body["rooms"]), {mine})
        self.assertEqual(body["rooms"][mine]["name"], "Mine")
        self.assertEqual(len(body["rooms"][mine]["timeline"]), 5)


class IncrementalTest(SlidingSyncTestCase):
    async def test_incremental_sequence(self) -> None:
        """Each step: exactly the rooms and extension data the next response holds."""
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        general = await self.room_named(self.alice, "General", preset="public_chat")
        await self.join(self.bob, general)
        req = {"lists": {"all_rooms": all_rooms(timeline_limit=3)},
               "extensions": {"typing": {"enabled": True}, "receipts": {"enabled": True},
                              "account_data": {"enabled": True}}}
        first = await self.sss(self.bob, req)
        self.assertEqual(set(first["rooms"]), {general})
        self.assertIn("m.push_rules", [e["type"] for e in first["extensions"]["account_data"]["global"]])
        pos = first["pos"]

        # Nothing new: no rooms, lists and extension containers still there.
        body = await self.sss(self.bob, req, pos)
        self.assertEqual(body["rooms"], {})
        self.assertEqual(body["lists"]["all_rooms"]["count"], 1)
        self.assertEqual(body["extensions"]["typing"], {"rooms": {}})
        pos = body["pos"]

        # A new message: only it, not initial, num_live 1, no unchanged fields.
        sent = await self.send(self.alice, general, "hi bob", "m1")
        body = await self.sss(self.bob, req, pos)
        room = body["rooms"][general]
        self.assertEqual(ids(room), [sent])
        self.assertNotIn("initial", room)
        self.assertEqual(room["num_live"], 1)
        self.assertFalse(room["limited"])
        self.assertEqual(room["notification_count"], 1)
        self.assertNotIn("name", room)
        self.assertNotIn("joined_count", room)
        # Lazy members: alice's member event, which bob had not been sent with the first answer's
        # timeline? He had (she created the room): it is not sent again.
        self.assertEqual(state_keys(room) - {("m.room.member", "@alice:test")}, set())
        pos = body["pos"]

        # A new room (an invite): invite_state, initial, alone.
        invited = await self.create(self.alice, name="Party", invite=["@bob:test"])
        body = await self.sss(self.bob, req, pos)
        self.assertEqual(set(body["rooms"]), {invited})
        room = body["rooms"][invited]
        self.assertTrue(room["initial"])
        self.assertEqual(room["name"], "Party")
        self.assertIn(("m.room.member", "@bob:test"),
                      [(e["type"], e["state_key"]) for e in room["invite_state"]])
        self.assertNotIn("timeline", room)
        self.assertEqual(body["lists"]["all_rooms"]["ops"][0]["room_ids"][0], invited)
        pos = body["pos"]

        # Joining it: initial again, now with its timeline and state.
        await self.join(self.bob, invited)
        body = await self.sss(self.bob, req, pos)
        self.assertEqual(set(body["rooms"]), {invited})
        room = body["rooms"][invited]
        self.assertTrue(room["initial"])
        self.assertEqual(room["timeline"][-1]["content"]["membership"], "join")
        self.assertEqual(room["joined_count"], 2)
        pos = body["pos"]

        # A name change: the new name and the state event.
        await self.state(self.alice, general, "m.room.name", {"name": "Renamed"})
        body = await self.sss(self.bob, req, pos)
        self.assertEqual(set(body["rooms"]), {general})
        room = body["rooms"][general]
        self.assertEqual(room["name"], "Renamed")
        self.assertIn(("m.room.name", ""), state_keys(room))
        self.assertEqual([e["type"] for e in room["timeline"]], ["m.room.name"])
        pos = body["pos"]

        # Typing, then a receipt: the extensions carry them, no room.
        r = await self.request("PUT", f"{V3}/rooms/{quote(general)}/typing/@alice:test",
                               {"typing": True, "timeout": 30000}, token=self.alice)
        self.assertEqual(r.code, 200)
        body = await self.sss(self.bob, req, pos)
        self.assertEqual(body["rooms"], {})
        self.assertEqual(body["extensions"]["typing"]["rooms"],
                         {general: {"type": "m.typing", "content": {"user_ids": ["@alice:test"]}}})
        pos = body["pos"]
        r = await self.post(f"{V3}/rooms/{quote(general)}/receipt/m.read/{quote(sent)}", {}, token=self.alice)
        self.assertEqual(r.code, 200)
        body = await self.sss(self.bob, req, pos)
        self.assertEqual(body["extensions"]["typing"]["rooms"], {})
        self.assertEqual(list(body["extensions"]["receipts"]["rooms"]), [general])
        receipt = body["extensions"]["receipts"]["rooms"][general]["content"]
        self.assertIn("@alice:test", receipt[sent]["m.read"])
        self.assertEqual(body["rooms"], {})
        pos = body["pos"]
        # Bob's own receipt clears his unread count: the room comes with the new count.
        r = await self.post(f"{V3}/rooms/{quote(general)}/receipt/m.read/{quote(sent)}", {}, token=self.bob)
        body = await self.sss(self.bob, req, pos)
        self.assertEqual(body["rooms"][general]["notification_count"], 0)
        self.assertEqual(body["rooms"][general]["timeline"], [])
        pos = body["pos"]

        # Room account data (a tag) through the extension.
        await self.request("PUT", f"{V3}/user/@bob:test/rooms/{quote(general)}/tags/u.work", {},
                           token=self.bob)
        body = await self.sss(self.bob, req, pos)
        self.assertEqual(body["extensions"]["account_data"]["rooms"][general][0]["type"], "m.tag")
        self.assertEqual(body["extensions"]["account_data"]["global"], [])
        pos = body["pos"]

        # A kick: the room comes with the kick, and stays listed.
        await self.post(f"{V3}/rooms/{quote(invited)}/kick", {"user_id": "@bob:test"}, token=self.alice)
        await self.send(self.alice, invited, "after the kick", "m2")
        body = await self.sss(self.bob, req, pos)
        room = body["rooms"][invited]
        self.assertEqual(room["timeline"][-1]["content"]["membership"], "leave")
        self.assertNotIn("after the kick", bodies(room))
        self.assertIn(invited, body["lists"]["all_rooms"]["ops"][0]["room_ids"])
        pos = body["pos"]
        body = await self.sss(self.bob, req, pos)
        self.assertEqual(body["rooms"], {})
        self.assertIn(invited, body["lists"]["all_rooms"]["ops"][0]["room_ids"])
        pos = body["pos"]

        # A self-leave: sent once more with the leave, then the room drops out of the list.
        other = await self.room_named(carol, "Carol's", preset="public_chat")
        await self.join(self.bob, other)
        body = await self.sss(self.bob, req, pos)
        self.assertTrue(body["rooms"][other]["initial"])
        pos = body["pos"]
        await self.post(f"{V3}/rooms/{quote(other)}/leave", {}, token=self.bob)
        body = await self.sss(self.bob, req, pos)
        self.assertEqual(set(body["rooms"]), {other})
        self.assertEqual(body["rooms"][other]["timeline"][-1]["content"]["membership"], "leave")
        self.assertIn(other, body["lists"]["all_rooms"]["ops"][0]["room_ids"])
        pos = body["pos"]
        body = await self.sss(self.bob, req, pos)
        self.assertNotIn(other, body["lists"]["all_rooms"]["ops"][0]["room_ids"])
        self.assertEqual(body["lists"]["all_rooms"]["count"], 2)
        self.assertEqual(body["rooms"], {})

    async def test_retry_with_the_same_pos_gets_the_same_answer(self) -> None:
        await self.users()
        room_id = await self.room_named(self.alice, "R")
        req = {"lists": {"a": all_rooms(timeline_limit=5)}}
        pos = (await self.sss(self.alice, req))["pos"]
        sent = await self.send(self.alice, room_id, "once", "t1")
        first = await self.sss(self.alice, req, pos)
        again = await self.sss(self.alice, req, pos)  # the answer was lost: retried
        self.assertEqual(ids(first["rooms"][room_id]), [sent])
        self.assertEqual(ids(again["rooms"][room_id]), [sent])
        # Moving on from the newer position drops the older one.
        body = await self.sss(self.alice, req, again["pos"])
        self.assertEqual(body["rooms"], {})
        for superseded in (pos, first["pos"]):
            r = await self.post(f"{SSS}?pos={quote(superseded)}", req, token=self.alice)
            self.assert_error(r, 400, "M_UNKNOWN_POS")

    async def test_room_out_of_range_comes_back_with_a_gap(self) -> None:
        """A room that left the window while messages arrived (PREVIOUSLY) comes back with what it
        missed, `limited` and a prev_batch when there is more than the timeline limit."""
        await self.users()
        old = await self.room_named(self.alice, "Old")
        newer = await self.room_named(self.alice, "Newer")
        req = {"lists": {"a": all_rooms(ranges=[(0, 0)], timeline_limit=2,
                                        required_state=[["m.room.topic", ""]])}}
        body = await self.sss(self.alice, req)
        self.assertEqual(list(body["rooms"]), [newer])
        # Old rises to the top: sent afresh (never sent before on this connection).
        await self.send(self.alice, old, "o1", "t1")
        body = await self.sss(self.alice, req, body["pos"])
        self.assertEqual(list(body["rooms"]), [old])
        self.assertTrue(body["rooms"][old]["initial"])
        # Newer (out of the window now) gets events, but Old moves above it again before the
        # client looks: Newer changed out of range (PREVIOUSLY).
        await self.state(self.alice, newer, "m.room.topic", {"topic": "a"})
        await self.state(self.alice, newer, "m.room.topic", {"topic": "b"})
        await self.send(self.alice, old, "o2", "t2")
        body = await self.sss(self.alice, req, body["pos"])
        self.assertEqual(list(body["rooms"]), [old])
        # Newer comes back: not initial, the events it missed since it was last sent, limited at 2.
        await self.state(self.alice, newer, "m.room.topic", {"topic": "c"})
        await self.send(self.alice, newer, "n1", "t3")
        body = await self.sss(self.alice, req, body["pos"])
        room = body["rooms"][newer]
        self.assertNotIn("initial", room)
        self.assertTrue(room["limited"])
        self.assertEqual([e["type"] for e in room["timeline"]], ["m.room.topic", "m.room.message"])
        self.assertEqual(room["num_live"], 2)
        self.assertEqual(state_keys(room), {("m.room.topic", "")})
        r = await self.get(f"{V3}/rooms/{quote(newer)}/messages?dir=b&limit=1&from={room['prev_batch']}",
                           token=self.alice)
        self.assertEqual(r.json["chunk"][0]["content"], {"topic": "b"})

    async def test_raised_timeline_limit_and_widened_required_state(self) -> None:
        await self.users()
        room_id = await self.room_named(self.alice, "R")
        for i in range(3):
            await self.send(self.alice, room_id, f"m{i}", f"t{i}")
        req = {"lists": {"a": all_rooms(timeline_limit=1, required_state=[["m.room.name", ""]])}}
        body = await self.sss(self.alice, req)
        self.assertEqual(bodies(body["rooms"][room_id]), ["m2"])
        # Opening the room: a subscription with a bigger timeline and more state.
        req["room_subscriptions"] = {room_id: {"timeline_limit": 3, "required_state": [["m.room.topic", ""],
                                                                                       ["m.room.create", ""]]}}
        body = await self.sss(self.alice, req, body["pos"])
        room = body["rooms"][room_id]
        self.assertTrue(room["unstable_expanded_timeline"])
        self.assertNotIn("initial", room)
        self.assertEqual(bodies(room), ["m0", "m1", "m2"])
        self.assertEqual(state_keys(room), {("m.room.create", "")})
        body = await self.sss(self.alice, req, body["pos"])
        self.assertEqual(body["rooms"], {})

    async def test_ignored_users_and_hidden_history(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        room_id = await self.room_named(self.alice, "R", preset="public_chat")
        await self.send(self.alice, room_id, "before bob", "t0")
        await self.state(self.alice, room_id, "m.room.history_visibility", {"history_visibility": "joined"})
        await self.send(self.alice, room_id, "still before bob", "t1")
        await self.join(self.bob, room_id)
        await self.join(carol, room_id)
        r = await self.request("PUT", f"{V3}/user/@bob:test/account_data/m.ignored_user_list",
                               {"ignored_users": {"@carol:test": {}}}, token=self.bob)
        self.assertEqual(r.code, 200)
        await self.send(carol, room_id, "from carol", "t2")
        await self.send(self.alice, room_id, "after", "t3")
        body = await self.sss(self.bob, {"lists": {"a": all_rooms(timeline_limit=20)}})
        # As /sync: "before bob" was shared history, "still before bob" (joined-only) is hidden,
        # carol's message ignored.
        self.assertEqual(bodies(body["rooms"][room_id]), ["before bob", "after"])
        # An invite from an ignored user is not listed.
        await self.create(carol, invite=["@bob:test"])
        pos = body["pos"]
        body = await self.sss(self.bob, {"lists": {"a": all_rooms(timeline_limit=20)}}, pos)
        self.assertEqual(body["rooms"], {})
        self.assertEqual(body["lists"]["a"]["count"], 1)
        # New messages from carol alone send nothing.
        await self.send(carol, room_id, "ignored", "t4")
        body = await self.sss(self.bob, {"lists": {"a": all_rooms(timeline_limit=20)}}, body["pos"])
        self.assertEqual(body["rooms"], {})


class MembershipsTest(SlidingSyncTestCase):
    async def test_knock_and_lazy_member_changes(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        knock_room = await self.create(self.alice, name="Knock", initial_state=[
            {"type": "m.room.join_rules", "content": {"join_rule": "knock"}}])
        r = await self.post(f"{V3}/knock/{quote(knock_room)}", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        general = await self.room_named(self.alice, "General", preset="public_chat")
        await self.join(self.bob, general)
        req = {"lists": {"a": all_rooms(timeline_limit=5, required_state=[["m.room.member", "$LAZY"]])}}
        body = await self.sss(self.bob, req)
        knocked = body["rooms"][knock_room]
        self.assertTrue(knocked["initial"])
        self.assertEqual(knocked["name"], "Knock")
        self.assertIn(("m.room.member", "@bob:test"), [(e["type"], e["state_key"]) for e in knocked["invite_state"]])
        self.assertNotIn("timeline", knocked)
        # Lazy members: the timeline's senders only (alice, bob), not everyone.
        self.assertEqual(state_keys(body["rooms"][general]),
                         {("m.room.member", "@alice:test"), ("m.room.member", "@bob:test")})
        # Carol joins and leaves without a word: a non-limited incremental answer carries her
        # membership; alice, already sent, is not sent again for her new message.
        await self.join(carol, general)
        await self.send(self.alice, general, "hi", "t1")
        body = await self.sss(self.bob, req, body["pos"])
        room = body["rooms"][general]
        self.assertFalse(room["limited"])
        self.assertEqual(state_keys(room), {("m.room.member", "@carol:test")})
        self.assertEqual(room["joined_count"], 3)
        # Accepted into the knocked room: it starts over, a joined room now.
        r = await self.post(f"{V3}/rooms/{quote(knock_room)}/invite", {"user_id": "@bob:test"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        await self.join(self.bob, knock_room)
        body = await self.sss(self.bob, req, body["pos"])
        self.assertTrue(body["rooms"][knock_room]["initial"])
        self.assertEqual(body["rooms"][knock_room]["timeline"][-1]["content"]["membership"], "join")


class LongPollTest(SlidingSyncTestCase):
    async def test_woken_by_an_event_it_can_see_only(self) -> None:
        await self.users()
        carol = (await self.register("carol"))["access_token"]
        room_id = await self.room_named(self.alice, "R", preset="public_chat")
        await self.join(self.bob, room_id)
        elsewhere = await self.room_named(carol, "Carol's")
        req = {"lists": {"a": all_rooms()}}
        pos = (await self.sss(self.bob, req))["pos"]
        waiting = self.start(self.bob, req, pos, 30000)
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        await self.send(carol, elsewhere, "not for bob", "t0")
        await self.pump()
        self.assertFalse(waiting.called)
        sent = await self.send(self.alice, room_id, "wake up", "t1")
        r = await waiting
        self.assertEqual(ids(r.json["rooms"][room_id]), [sent])
        self.assertEqual(self.hs.notifier.waiter_count(), 0)

    async def test_times_out_with_lists_and_extension_containers(self) -> None:
        await self.users()
        await self.room_named(self.bob, "R")
        req = {"lists": {"a": all_rooms()}, "extensions": {"to_device": {"enabled": True},
                                                           "e2ee": {"enabled": True}}}
        first = await self.sss(self.bob, req)
        waiting = self.start(self.bob, req, first["pos"], 10000)
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        self.advance(9)
        await self.pump()
        self.assertFalse(waiting.called)
        self.advance(2)
        r = await waiting
        self.assertEqual(r.code, 200)
        self.assertEqual(r.json["rooms"], {})
        self.assertEqual(r.json["lists"]["a"]["count"], 1)
        self.assertEqual(r.json["extensions"]["to_device"]["events"], [])
        self.assertIn("device_one_time_keys_count", r.json["extensions"]["e2ee"])
        # An invite wakes an invitee who waits on no room of it.
        waiting = self.start(self.bob, req, r.json["pos"], 30000)
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        invited = await self.create(self.alice, invite=["@bob:test"])
        r = await waiting
        self.assertIn(invited, r.json["rooms"])


class ExtensionsTest(SlidingSyncTestCase):
    async def test_to_device_exactly_once(self) -> None:
        await self.users()
        bob_login = await self.login("bob")
        bob, device = bob_login["access_token"], bob_login["device_id"]
        for i in range(3):
            r = await self.request("PUT", f"{V3}/sendToDevice/m.test/txn{i}",
                                   {"messages": {"@bob:test": {device: {"n": i}}}}, token=self.alice)
            self.assertEqual(r.code, 200)
        req = {"conn_id": "encryption", "extensions": {"to_device": {"enabled": True, "limit": 2},
                                                       "e2ee": {"enabled": True}}}
        first = await self.sss(bob, req)
        td = first["extensions"]["to_device"]
        self.assertEqual([e["content"]["n"] for e in td["events"]], [0, 1])
        # A retry with the same since: the same batch.
        again = await self.sss(bob, req)
        self.assertEqual(again["extensions"]["to_device"], td)
        # Acknowledged by echoing next_batch: the rest, then nothing.
        req["extensions"]["to_device"]["since"] = td["next_batch"]
        second = await self.sss(bob, req, first["pos"])
        self.assertEqual([e["content"]["n"] for e in second["extensions"]["to_device"]["events"]], [2])
        req["extensions"]["to_device"]["since"] = second["extensions"]["to_device"]["next_batch"]
        third = await self.sss(bob, req, second["pos"])
        self.assertEqual(third["extensions"]["to_device"]["events"], [])
        # A connection with no lists: position 0, never unknown (it holds no room state).
        self.assertTrue(third["pos"].startswith("0/"))
        # Long-polling, a new message wakes it.
        waiting = self.start(bob, req, third["pos"], 30000)
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        await self.request("PUT", f"{V3}/sendToDevice/m.test/txn9",
                           {"messages": {"@bob:test": {device: {"n": 9}}}}, token=self.alice)
        r = await waiting
        self.assertEqual([e["content"]["n"] for e in r.json["extensions"]["to_device"]["events"]], [9])

    async def test_e2ee_device_lists_and_key_counts(self) -> None:
        alice, alice_device = await E2ETestCase.account(self, "alice")
        bob, bob_device = await E2ETestCase.account(self, "bob")
        room_id = await self.room_named(alice["access_token"], "R", preset="public_chat")
        await self.join(bob["access_token"], room_id)
        req = {"extensions": {"e2ee": {"enabled": True}}}
        first = await self.sss(bob["access_token"], req)
        e2ee = first["extensions"]["e2ee"]
        self.assertEqual(e2ee["device_one_time_keys_count"], {"signed_curve25519": 0})
        self.assertEqual(e2ee["device_unused_fallback_key_types"], [])
        self.assertNotIn("device_lists", e2ee)
        # Alice uploads keys: bob's next answer says so; his own one-time keys are counted.
        await E2ETestCase.upload(self, alice["access_token"], {"device_keys": alice_device.device_keys()})
        await E2ETestCase.upload(self, bob["access_token"], {"one_time_keys": bob_device.one_time_keys(3)})
        body = await self.sss(bob["access_token"], req, first["pos"])
        self.assertEqual(body["extensions"]["e2ee"]["device_lists"], {"changed": ["@alice:test"], "left": []})
        self.assertEqual(body["extensions"]["e2ee"]["device_one_time_keys_count"], {"signed_curve25519": 3})

    async def test_account_data_scoping(self) -> None:
        await self.users()
        one = await self.room_named(self.alice, "One")
        two = await self.room_named(self.alice, "Two")
        for room_id in (one, two):
            await self.request("PUT", f"{V3}/user/@alice:test/rooms/{quote(room_id)}/account_data/org.x",
                               {"room": room_id}, token=self.alice)
        await self.request("PUT", f"{V3}/user/@alice:test/account_data/m.direct", {}, token=self.alice)
        body = await self.sss(self.alice, {
            "lists": {"a": all_rooms(ranges=[(0, 0)])},
            "room_subscriptions": {one: {"timeline_limit": 0, "required_state": []}},
            "extensions": {"account_data": {"enabled": True, "lists": [], "rooms": [one]}}})
        data = body["extensions"]["account_data"]
        self.assertEqual(set(data["rooms"]), {one})
        types = [e["type"] for e in data["global"]]
        self.assertIn("m.direct", types)
        self.assertIn("m.push_rules", types)
        # Lists and rooms absent: every room in a window or subscription.
        body = await self.sss(self.alice, {
            "lists": {"a": all_rooms(ranges=[(0, 0)])},
            "room_subscriptions": {one: {"timeline_limit": 0, "required_state": []}},
            "extensions": {"account_data": {"enabled": True}}})
        self.assertEqual(set(body["extensions"]["account_data"]["rooms"]), {one, two})
        # Disabled (or unknown extensions): nothing.
        body = await self.sss(self.alice, {"extensions": {"account_data": {"enabled": False},
                                                          "org.example.unknown": {"enabled": True}}})
        self.assertEqual(body["extensions"], {})
