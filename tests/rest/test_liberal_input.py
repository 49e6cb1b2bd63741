"""Odd but harmless input that clients send, accepted as the reference server accepts it:
optional fields sent as null, a state event set again to the content it has, the legacy
POST /send without a transaction ID, and forward /messages paging that reaches the live end."""

import json
from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase


class NullMeansAbsentTest(RoomsTestCase):
    async def test_null_optional_fields(self) -> None:
        await self.users()
        r = await self.post(f"{V3}/publicRooms", {"since": None, "limit": None, "filter": None,
                                                  "include_all_networks": None}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(f"{V3}/publicRooms", {"filter": {"generic_search_term": None}}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(f"{V3}/createRoom", {"name": None, "topic": None, "preset": None, "room_version": None,
                                                 "visibility": None, "invite": None, "is_direct": None},
                            token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        room_id = r.json["room_id"]
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/state/m.room.name/", token=self.alice)
        self.assertEqual(r.code, 404, r.json)  # no name event, not a null name

        body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
                "password": "password", "device_id": None, "initial_device_display_name": None,
                "refresh_token": None}
        r = await self.post(f"{V3}/login", body)
        self.assertEqual(r.code, 200, r.json)

        first = await self.post(f"{V3}/register", {"username": "carol", "password": "pw", "device_id": None,
                                                   "initial_device_display_name": None, "inhibit_login": None})
        self.assertEqual(first.code, 401, first.json)
        r = await self.post(f"{V3}/register", {"username": "carol", "password": "pw", "device_id": None,
                                               "auth": {"type": "m.login.dummy", "session": first.json["session"]}})
        self.assertEqual(r.code, 200, r.json)

        r = await self.post(f"{V3}/user/@alice:test/filter",
                            {"room": {"timeline": {"limit": None, "types": None}, "rooms": None},
                             "presence": None, "event_format": None}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        sync_filter = quote(json.dumps({"room": {"timeline": {"limit": None}}}))
        r = await self.get(f"{V3}/sync?filter={sync_filter}", token=self.alice)
        self.assertEqual(r.code, 200, r.json)

        await self.send(self.alice, room_id, "findme", "t1")
        r = await self.post(f"{V3}/search", {"search_categories": {"room_events": {
            "search_term": "findme", "filter": None, "order_by": None, "keys": None, "event_context": None,
            "include_state": None, "groupings": None}}}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["search_categories"]["room_events"]["count"], 1)

    async def test_null_where_a_value_is_required_is_still_refused(self) -> None:
        await self.users()
        await self.assert_rejected_without_change("POST", f"{V3}/search",
                                                  {"search_categories": {"room_events": {"search_term": None}}},
                                                  400, "M_MISSING_PARAM", token=self.alice)

    async def test_event_content_keeps_its_nulls(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/org.example/t1", {"x": None},
                               token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/event/{quote(r.json['event_id'])}", token=self.alice)
        self.assertEqual(r.json["content"], {"x": None})


class SameStateTest(RoomsTestCase):
    async def put_state(self, token: str, room_id: str, content: dict) -> str:
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic/", content, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]

    async def test_same_content_by_same_sender_returns_the_existing_event(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat",
                                    room_version="11",
                                    power_level_content_override={"users": {"@alice:test": 100, "@bob:test": 50}})
        r = await self.post(f"{V3}/join/{quote(room_id)}", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        first = await self.put_state(self.alice, room_id, {"topic": "hello"})
        before = self.hs.events_store.stream.current
        self.assertEqual(await self.put_state(self.alice, room_id, {"topic": "hello"}), first)
        self.assertEqual(self.hs.events_store.stream.current, before)  # no new event
        # Another sender, or other content: a new event.
        by_bob = await self.put_state(self.bob, room_id, {"topic": "hello"})
        self.assertNotEqual(by_bob, first)
        self.assertNotEqual(await self.put_state(self.bob, room_id, {"topic": "hello", "x": 1}), by_bob)


class LegacySendTest(RoomsTestCase):
    async def test_post_send_without_transaction_id(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        ids = []
        for _ in range(2):
            r = await self.post(f"{V3}/rooms/{quote(room_id)}/send/m.room.message", {"msgtype": "m.text",
                                                                                     "body": "old style"},
                                token=self.alice)
            self.assertEqual(r.code, 200, r.json)
            ids.append(r.json["event_id"])
        self.assertNotEqual(ids[0], ids[1])  # no transaction ID: each request is a new event
        r = await self.get(f"{V3}/rooms/{quote(room_id)}/event/{quote(ids[0])}", token=self.alice)
        self.assertEqual(r.json["content"]["body"], "old style")
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/send/m.room.message", {"body": "x"}, token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")


class ForwardPagingTest(RoomsTestCase):
    async def test_forward_paging_to_the_live_end_returns_an_end_token(self) -> None:
        await self.users()
        room_id = await self.create(self.alice)
        room = quote(room_id)
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=1", token=self.alice)
        start = r.json["start"]
        await self.send(self.alice, room_id, "one", "t1")
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=f&from={start}&limit=10", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([e["content"].get("body") for e in r.json["chunk"]], ["one"])
        self.assertIn("end", r.json)
        end = r.json["end"]
        # Nothing new yet: an empty chunk, and an end to go on from.
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=f&from={end}&limit=10", token=self.alice)
        self.assertEqual((r.json["chunk"], r.json.get("end")), ([], end))
        two = await self.send(self.alice, room_id, "two", "t2")
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=f&from={end}&limit=10", token=self.alice)
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], [two])
        # The token works as a /sync `since` too.
        three = await self.send(self.alice, room_id, "three", "t3")
        r = await self.get(f"{V3}/sync?since={r.json['end']}", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        timeline = r.json["rooms"]["join"][room_id]["timeline"]["events"]
        self.assertEqual([e["event_id"] for e in timeline], [three])
