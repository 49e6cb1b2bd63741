"""Every filter field as /sync applies it: event types (with wildcards) and senders, rooms,
limits, contains_url, include_leave, unread_thread_notifications, the account data, presence and
ephemeral filters, lazy-loaded members with and without redundant members, event_fields and
event_format; and bad filters / since tokens refused with a 4xx."""

import json
from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase

ALICE, BOB, CAROL = "@alice:test", "@bob:test", "@carol:test"


class SyncFilterTestCase(RoomsTestCase):
    async def sync(self, token: str, flt: dict | None = None, since: str | None = None, **params) -> dict:
        query = {**params}
        if flt is not None:
            query["filter"] = json.dumps(flt)
        if since is not None:
            query["since"] = since
        r = await self.get(f"{V3}/sync?" + "&".join(f"{k}={quote(str(v))}" for k, v in query.items()), token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def put_event(self, token: str, room_id: str, event_type: str, content: dict, txn: str) -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/{quote(event_type)}/{txn}", content,
                               token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]

    async def shared_room(self) -> str:
        """alice's public room that bob joined."""
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat", name="Shared")
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        return room_id

    @staticmethod
    def timeline(sync: dict, room_id: str) -> list[dict]:
        return sync.get("rooms", {}).get("join", {}).get(room_id, {}).get("timeline", {}).get("events", [])

    @staticmethod
    def state_members(sync: dict, room_id: str) -> set[str]:
        room = sync.get("rooms", {}).get("join", {}).get(room_id, {})
        return {e["state_key"] for e in room.get("state", {}).get("events", []) if e["type"] == "m.room.member"}


class TimelineFilterTest(SyncFilterTestCase):
    async def test_types_and_not_types_with_wildcards(self) -> None:
        room_id = await self.shared_room()
        since = (await self.sync(self.alice))["next_batch"]
        await self.send(self.alice, room_id, "text", "t1")
        await self.put_event(self.alice, room_id, "com.example.ping", {"n": 1}, "t2")
        await self.put_event(self.alice, room_id, "com.example.pong", {"n": 2}, "t3")
        await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic", {"topic": "t"}, token=self.alice)

        async def types(flt: dict) -> list[str]:
            return [e["type"] for e in self.timeline(await self.sync(self.alice, {"room": {"timeline": flt}}, since),
                                                     room_id)]

        self.assertEqual(await types({}), ["m.room.message", "com.example.ping", "com.example.pong", "m.room.topic"])
        self.assertEqual(await types({"types": ["com.example.*"]}), ["com.example.ping", "com.example.pong"])
        self.assertEqual(await types({"types": ["m.room.*"], "not_types": ["m.room.topic"]}), ["m.room.message"])
        self.assertEqual(await types({"not_types": ["*.p*ng"]}), ["m.room.message", "m.room.topic"])
        self.assertEqual(await types({"types": ["*"], "not_types": ["*"]}), [])  # not_types wins

    async def test_senders_and_not_senders(self) -> None:
        room_id = await self.shared_room()
        since = (await self.sync(self.alice))["next_batch"]
        await self.send(self.alice, room_id, "from alice", "t1")
        await self.send(self.bob, room_id, "from bob", "t2")

        async def senders(flt: dict) -> list[str]:
            return [e["sender"] for e in self.timeline(await self.sync(self.alice, {"room": {"timeline": flt}},
                                                                       since), room_id)]

        self.assertEqual(await senders({}), [ALICE, BOB])
        self.assertEqual(await senders({"senders": [BOB]}), [BOB])
        self.assertEqual(await senders({"not_senders": [BOB]}), [ALICE])
        self.assertEqual(await senders({"senders": [BOB], "not_senders": [BOB]}), [])

    async def test_rooms_and_not_rooms(self) -> None:
        await self.users()
        room_a = await self.create(self.alice, name="A")
        room_b = await self.create(self.alice, name="B")
        everything = await self.sync(self.alice)
        self.assertEqual(set(everything["rooms"]["join"]), {room_a, room_b})
        only_a = await self.sync(self.alice, {"room": {"rooms": [room_a]}})
        self.assertEqual(set(only_a["rooms"]["join"]), {room_a})
        # not_rooms wins over rooms.
        none = await self.sync(self.alice, {"room": {"rooms": [room_a], "not_rooms": [room_a]}})
        self.assertEqual(none.get("rooms", {}).get("join", {}), {})
        # A timeline's own rooms filter empties that room's timeline only.
        since = everything["next_batch"]
        await self.send(self.alice, room_a, "a", "t1")
        await self.send(self.alice, room_b, "b", "t2")
        result = await self.sync(self.alice, {"room": {"timeline": {"not_rooms": [room_b]}}}, since)
        self.assertEqual([e["content"]["body"] for e in self.timeline(result, room_a)], ["a"])
        self.assertEqual(self.timeline(result, room_b), [])

    async def test_limit_fills_through_filtered_out_events(self) -> None:
        room_id = await self.shared_room()
        since = (await self.sync(self.alice))["next_batch"]
        for i in range(4):
            await self.send(self.alice, room_id, f"m{i}", f"m{i}")
            for j in range(30):
                await self.put_event(self.alice, room_id, "com.example.noise", {}, f"n{i}-{j}")
        flt = {"room": {"timeline": {"types": ["m.room.message"], "limit": 3}}}
        room = (await self.sync(self.alice, flt, since))["rooms"]["join"][room_id]
        self.assertEqual([e["content"]["body"] for e in room["timeline"]["events"]], ["m1", "m2", "m3"])
        self.assertTrue(room["timeline"]["limited"])
        # prev_batch sits just before the first event returned: /messages goes on from there.
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/messages?dir=b&limit=1&from={room['timeline']['prev_batch']}"
                           f"&filter={quote(json.dumps({'types': ['m.room.message']}))}", token=self.alice)
        self.assertEqual([e["content"]["body"] for e in r.json["chunk"]], ["m0"])
        flt["room"]["timeline"]["limit"] = 4
        room = (await self.sync(self.alice, flt, since))["rooms"]["join"][room_id]
        self.assertEqual([e["content"]["body"] for e in room["timeline"]["events"]], ["m0", "m1", "m2", "m3"])
        self.assertFalse(room["timeline"]["limited"])
        # Unfiltered, the limit counts every event.
        room = (await self.sync(self.alice, {"room": {"timeline": {"limit": 2}}}, since))["rooms"]["join"][room_id]
        self.assertEqual(len(room["timeline"]["events"]), 2)
        self.assertTrue(room["timeline"]["limited"])

    async def test_contains_url(self) -> None:
        room_id = await self.shared_room()
        since = (await self.sync(self.alice))["next_batch"]
        await self.send(self.alice, room_id, "text", "t1")
        await self.put_event(self.alice, room_id, "m.room.message",
                             {"msgtype": "m.image", "body": "cat.png", "url": "mxc://test/cat"}, "t2")

        async def bodies(contains_url: bool) -> list[str]:
            flt = {"room": {"timeline": {"contains_url": contains_url}}}
            return [e["content"]["body"] for e in self.timeline(await self.sync(self.alice, flt, since), room_id)]

        self.assertEqual(await bodies(True), ["cat.png"])
        self.assertEqual(await bodies(False), ["text"])

    async def test_state_filter(self) -> None:
        room_id = await self.shared_room()
        flt = {"room": {"timeline": {"limit": 1}, "state": {"types": ["m.room.name", "m.room.create"]}}}
        room = (await self.sync(self.alice, flt))["rooms"]["join"][room_id]
        self.assertEqual(sorted(e["type"] for e in room["state"]["events"]), ["m.room.create", "m.room.name"])
        flt = {"room": {"timeline": {"limit": 1}, "state": {"not_senders": [ALICE]}}}
        room = (await self.sync(self.alice, flt))["rooms"]["join"][room_id]
        self.assertEqual({e["sender"] for e in room["state"]["events"]}, set())  # bob's join is the timeline


class RoomSectionsFilterTest(SyncFilterTestCase):
    async def test_include_leave(self) -> None:
        room_id = await self.shared_room()
        await self.send(self.alice, room_id, "before", "t1")
        await self.post(f"{V3}/rooms/{quote(room_id)}/leave", {}, token=self.bob)
        without = await self.sync(self.bob)
        self.assertNotIn(room_id, without.get("rooms", {}).get("leave", {}))
        with_leave = await self.sync(self.bob, {"room": {"include_leave": True}})
        events = with_leave["rooms"]["leave"][room_id]["timeline"]["events"]
        self.assertEqual(events[-1]["content"]["membership"], "leave")
        self.assertIn("before", [e["content"].get("body") for e in events])
        # rooms/not_rooms applies to left rooms too.
        filtered = await self.sync(self.bob, {"room": {"include_leave": True, "not_rooms": [room_id]}})
        self.assertNotIn(room_id, filtered.get("rooms", {}).get("leave", {}))

    async def test_unread_thread_notifications(self) -> None:
        room_id = await self.shared_room()
        root = await self.send(self.alice, room_id, "root", "t1")
        await self.put_event(self.bob, room_id, "m.room.message", {
            "msgtype": "m.text", "body": "in thread", "m.relates_to": {"rel_type": "m.thread", "event_id": root}},
            "t2")
        plain = (await self.sync(self.alice))["rooms"]["join"][room_id]
        self.assertNotIn("unread_thread_notifications", plain)
        flt = {"room": {"timeline": {"unread_thread_notifications": True}}}
        threaded = (await self.sync(self.alice, flt))["rooms"]["join"][room_id]
        self.assertEqual(threaded["unread_thread_notifications"][root]["notification_count"], 1)
        # Unthreaded counts leave the thread's out when threads are counted apart.
        self.assertEqual(threaded["unread_notifications"]["notification_count"],
                         plain["unread_notifications"]["notification_count"] - 1)

    async def test_ephemeral_filter(self) -> None:
        room_id = await self.shared_room()
        event_id = await self.send(self.alice, room_id, "read me", "t1")
        since = (await self.sync(self.bob))["next_batch"]
        await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/typing/{quote(ALICE)}",
                           {"typing": True, "timeout": 30000}, token=self.alice)
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/receipt/m.read/{quote(event_id)}", {}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)

        async def ephemeral(flt: dict) -> list[str]:
            result = await self.sync(self.bob, {"room": {"ephemeral": flt}}, since)
            room = result.get("rooms", {}).get("join", {}).get(room_id, {})
            return sorted(e["type"] for e in room.get("ephemeral", {}).get("events", []))

        self.assertEqual(await ephemeral({}), ["m.receipt", "m.typing"])
        self.assertEqual(await ephemeral({"types": ["m.typing"]}), ["m.typing"])
        self.assertEqual(await ephemeral({"not_types": ["m.t*"]}), ["m.receipt"])
        self.assertEqual(await ephemeral({"not_rooms": [room_id]}), [])
        self.assertEqual(len(await ephemeral({"limit": 1})), 1)

    async def test_account_data_filters(self) -> None:
        room_id = await self.shared_room()
        for event_type in ("com.example.one", "com.example.two", "org.other"):
            r = await self.request("PUT", f"{V3}/user/{quote(ALICE)}/account_data/{event_type}", {"v": event_type},
                                   token=self.alice)
            self.assertEqual(r.code, 200, r.json)
        r = await self.request("PUT", f"{V3}/user/{quote(ALICE)}/rooms/{quote(room_id)}/account_data/com.example.r",
                               {"v": 1}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)

        async def global_types(flt: dict) -> list[str]:
            result = await self.sync(self.alice, {"account_data": flt})
            return sorted(e["type"] for e in result.get("account_data", {}).get("events", []))

        self.assertEqual(await global_types({"types": ["com.example.*"]}), ["com.example.one", "com.example.two"])
        self.assertEqual(await global_types({"not_types": ["com.*", "m.*"]}), ["org.other"])
        self.assertEqual(len(await global_types({"types": ["com.example.*"], "limit": 1})), 1)

        async def room_types(flt: dict) -> list[str]:
            result = await self.sync(self.alice, {"room": {"account_data": flt}})
            room = result.get("rooms", {}).get("join", {}).get(room_id, {})
            return [e["type"] for e in room.get("account_data", {}).get("events", [])]

        self.assertEqual(await room_types({}), ["com.example.r"])
        self.assertEqual(await room_types({"not_types": ["com.*"]}), [])
        self.assertEqual(await room_types({"not_rooms": [room_id]}), [])

    async def test_presence_filter(self) -> None:
        await self.shared_room()
        await self.sync(self.bob)  # bob is online
        r = await self.request("PUT", f"{V3}/presence/{quote(ALICE)}/status",
                               {"presence": "online", "status_msg": "here"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)

        async def senders(flt: dict) -> list[str]:
            result = await self.sync(self.alice, {"presence": flt}, set_presence="offline")
            return sorted(e["sender"] for e in result.get("presence", {}).get("events", []))

        self.assertEqual(await senders({}), [ALICE, BOB])
        self.assertEqual(await senders({"not_senders": [BOB]}), [ALICE])
        self.assertEqual(await senders({"senders": [BOB]}), [BOB])
        self.assertEqual(await senders({"not_types": ["m.*"]}), [])
        self.assertEqual(len(await senders({"limit": 1})), 1)


class LazyMembersTest(SyncFilterTestCase):
    LAZY = {"room": {"timeline": {"limit": 1}, "state": {"lazy_load_members": True}}}
    REDUNDANT = {"room": {"timeline": {"limit": 1}, "state": {"lazy_load_members": True,
                                                              "include_redundant_members": True}}}

    async def test_members_sent_once_per_device(self) -> None:
        room_id = await self.shared_room()
        carol = (await self.register("carol"))["access_token"]
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=carol)
        first = await self.sync(self.alice, self.LAZY)
        # Timeline: carol's join; state: only alice's own member event.
        self.assertEqual([e["state_key"] for e in self.timeline(first, room_id)], [CAROL])
        self.assertEqual(self.state_members(first, room_id), {ALICE})

        await self.send(self.bob, room_id, "hi", "t1")
        second = await self.sync(self.alice, self.LAZY, first["next_batch"])
        # Bob's membership did not change since the token, but this device never had it.
        self.assertEqual(self.state_members(second, room_id), {BOB})

        await self.send(self.bob, room_id, "again", "t2")
        third = await self.sync(self.alice, self.LAZY, second["next_batch"])
        self.assertEqual(self.state_members(third, room_id), set())  # redundant: already sent
        # Asking for redundant members gets them (the own one too).
        redundant = await self.sync(self.alice, self.REDUNDANT, second["next_batch"])
        self.assertEqual(self.state_members(redundant, room_id), {ALICE, BOB})

        # A retried older token (the response was lost) gets bob's member again.
        retried = await self.sync(self.alice, self.LAZY, first["next_batch"])
        self.assertEqual(self.state_members(retried, room_id), {BOB})

        # Another device of alice's has had nothing.
        other_device = (await self.login("alice"))["access_token"]
        other = await self.sync(other_device, self.LAZY, second["next_batch"])
        self.assertEqual(self.state_members(other, room_id), {ALICE, BOB})

        # Carol's join was in the first timeline: not sent again as state.
        await self.send(carol, room_id, "me too", "t3")
        fourth = await self.sync(self.alice, self.LAZY, third["next_batch"])
        self.assertEqual(self.state_members(fourth, room_id), set())

        # A changed membership is sent even though the old one was.
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.member/{quote(BOB)}",
                               {"membership": "join", "displayname": "Robert"}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        await self.send(self.bob, room_id, "renamed", "t4")
        fifth = await self.sync(self.alice, self.LAZY, fourth["next_batch"])
        room = fifth["rooms"]["join"][room_id]
        names = [e["content"].get("displayname") for e in room["state"]["events"] + room["timeline"]["events"]
                 if e["type"] == "m.room.member"]
        self.assertIn("Robert", names)

    async def test_without_lazy_loading_all_members(self) -> None:
        room_id = await self.shared_room()
        carol = (await self.register("carol"))["access_token"]
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=carol)
        first = await self.sync(self.alice, {"room": {"timeline": {"limit": 1}}})
        self.assertEqual(self.state_members(first, room_id), {ALICE, BOB})  # carol's is in the timeline

    async def test_a_new_initial_sync_starts_over(self) -> None:
        room_id = await self.shared_room()
        await self.send(self.alice, room_id, "first", "t0")
        first = await self.sync(self.alice, self.LAZY)
        self.assertEqual(self.state_members(first, room_id), {ALICE})
        await self.send(self.bob, room_id, "hi", "t1")
        second = await self.sync(self.alice, self.LAZY, first["next_batch"])
        self.assertEqual(self.state_members(second, room_id), {BOB})
        # A fresh initial sync whose timeline is alice's: bob's member is not sent...
        await self.send(self.alice, room_id, "mine", "t2")
        fresh = await self.sync(self.alice, self.LAZY)
        self.assertEqual(self.state_members(fresh, room_id), {ALICE})
        # ... so the device no longer has it: bob's next message brings it again.
        await self.send(self.bob, room_id, "hello again", "t3")
        after = await self.sync(self.alice, self.LAZY, fresh["next_batch"])
        self.assertEqual(self.state_members(after, room_id), {BOB})


class EventFormatTest(SyncFilterTestCase):
    async def test_event_fields(self) -> None:
        room_id = await self.shared_room()
        since = (await self.sync(self.alice))["next_batch"]
        await self.put_event(self.alice, room_id, "m.room.message", {
            "msgtype": "m.text", "body": "hello", "m.key": {"a": 1}, "b\\c": 2}, "t1")
        flt = {"event_fields": ["type", "content.body", "content.m\\.key.a", "content.b\\\\c", "content.nothing",
                                "sender.deeper"]}
        events = self.timeline(await self.sync(self.alice, flt, since), room_id)
        self.assertEqual(events, [{"type": "m.room.message", "content": {"body": "hello", "m.key": {"a": 1},
                                                                         "b\\c": 2}}])
        # State events too.
        state = (await self.sync(self.alice, {"event_fields": ["type", "state_key"],
                                              "room": {"timeline": {"limit": 1}}}))["rooms"]["join"][room_id]["state"]
        self.assertIn({"type": "m.room.create", "state_key": ""}, state["events"])
        self.assertTrue(all(set(e) <= {"type", "state_key"} for e in state["events"]))

    async def test_federation_format(self) -> None:
        room_id = await self.shared_room()
        since = (await self.sync(self.alice))["next_batch"]
        event_id = await self.send(self.alice, room_id, "hello", "t1")
        events = self.timeline(await self.sync(self.alice, {"event_format": "federation"}, since), room_id)
        self.assertEqual(len(events), 1)
        pdu = events[0]
        for key in ("auth_events", "prev_events", "depth", "hashes", "signatures", "origin_server_ts", "room_id"):
            self.assertIn(key, pdu)
        self.assertEqual(pdu["content"]["body"], "hello")
        self.assertEqual(pdu["unsigned"]["transaction_id"], "t1")
        stored = await self.hs.events_store.get_event(event_id)
        self.assertEqual({k: v for k, v in pdu.items() if k != "unsigned"}, stored.pdu)
        # With event_fields, on the federation format.
        events = self.timeline(await self.sync(self.alice, {"event_format": "federation",
                                                            "event_fields": ["depth", "type"]}, since), room_id)
        self.assertEqual(events, [{"depth": stored.depth, "type": "m.room.message"}])


class BadInputTest(SyncFilterTestCase):
    async def test_bad_filters_and_tokens(self) -> None:
        room_id = await self.shared_room()
        current = (await self.sync(self.alice))["next_batch"]
        events_part = current.split("_")[0]
        cases = [
            ("filter=4242", 400, "M_INVALID_PARAM"),
            ("filter=not-an-id", 400, "M_INVALID_PARAM"),
            (f"filter={quote('{not json')}", 400, "M_NOT_JSON"),
            (f"filter={quote(json.dumps({'room': {'timeline': {'limit': 'ten'}}}))}", 400, "M_BAD_JSON"),
            (f"filter={quote(json.dumps({'room': {'timeline': {'limit': 0}}}))}", 400, "M_INVALID_PARAM"),
            (f"filter={quote(json.dumps({'room': {'rooms': 'all'}}))}", 400, "M_BAD_JSON"),
            (f"filter={quote(json.dumps({'room': {'rooms': ['#alias:test']}}))}", 400, "M_INVALID_PARAM"),
            (f"filter={quote(json.dumps({'event_format': 'xml'}))}", 400, "M_INVALID_PARAM"),
            (f"filter={quote(json.dumps({'event_fields': 'type'}))}", 400, "M_BAD_JSON"),
            (f"filter={quote(json.dumps({'presence': {'senders': [1]}}))}", 400, "M_BAD_JSON"),
            ("since=s999999999", 400, "M_INVALID_PARAM"),
            (f"since={events_part}_99999999", 400, "M_INVALID_PARAM"),  # account data never reached
            (f"since={events_part}_0_99999999", 400, "M_INVALID_PARAM"),  # receipts never reached
            (f"since={events_part}_x_0", 400, "M_INVALID_PARAM"),
            (f"since={events_part}__0", 400, "M_INVALID_PARAM"),
            (f"since={events_part}_-1", 400, "M_INVALID_PARAM"),
            ("since=s" + "9" * 40, 400, "M_INVALID_PARAM"),
            ("since=t5", 400, "M_INVALID_PARAM"),
            (f"since={quote('s1_２')}", 400, "M_INVALID_PARAM"),  # a non-ASCII digit
        ]
        for query, code, errcode in cases:
            r = await self.assert_rejected_without_change("GET", f"{V3}/sync?{query}", None, code, errcode,
                                                          token=self.alice)
            self.assertEqual((r.code, r.json["errcode"]), (code, errcode), query)
        # The good token still works.
        await self.send(self.alice, room_id, "x", "t1")
        self.assertEqual(len(self.timeline(await self.sync(self.alice, since=current), room_id)), 1)
