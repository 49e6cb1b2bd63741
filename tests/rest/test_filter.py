"""Filters: POST/GET /user/{userId}/filter, and filters used by /sync, /messages and /context."""

import json
from urllib.parse import quote

from twisted.internet import defer

from tests.rest.test_rooms import V3, RoomsTestCase

ALICE = quote("@alice:test")
BOB = quote("@bob:test")

SPEC_EXAMPLE = {
    "room": {
        "state": {"types": ["m.room.*"], "not_rooms": ["!726s6s6q:example.com"]},
        "timeline": {"limit": 10, "types": ["m.room.message"], "not_rooms": ["!726s6s6q:example.com"],
                     "not_senders": ["@spam:example.com"]},
        "ephemeral": {"types": ["m.receipt", "m.typing"], "not_rooms": ["!726s6s6q:example.com"],
                      "not_senders": ["@spam:example.com"]},
    },
    "presence": {"types": ["m.presence"], "not_senders": ["@alice:example.com"]},
    "event_format": "client",
    "event_fields": ["type", "content", "sender"],
}


class FilterTestCase(RoomsTestCase):
    async def upload(self, token: str, user: str, body) -> str:
        r = await self.post(f"{V3}/user/{user}/filter", body, token=token)
        self.assertEqual(r.code, 200, r.json)
        self.assertIsInstance(r.json["filter_id"], str)
        self.assertFalse(r.json["filter_id"].startswith("{"))
        return r.json["filter_id"]


class UploadAndDownloadTest(FilterTestCase):
    async def test_upload_then_download(self) -> None:
        await self.users()
        filter_id = await self.upload(self.alice, ALICE, SPEC_EXAMPLE)
        r = await self.get(f"{V3}/user/{ALICE}/filter/{filter_id}", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json, SPEC_EXAMPLE)
        # The r0 prefix too.
        r = await self.get(f"/_matrix/client/r0/user/{ALICE}/filter/{filter_id}", token=self.alice)
        self.assertEqual(r.json, SPEC_EXAMPLE)

    async def test_ids(self) -> None:
        await self.users()
        first = await self.upload(self.alice, ALICE, {})
        second = await self.upload(self.alice, ALICE, {"room": {"timeline": {"limit": 1}}})
        self.assertNotEqual(first, second)
        # The same filter again (keys in another order): the same ID, nothing new stored.
        before = await self.snapshot()
        self.assertEqual(await self.upload(self.alice, ALICE, {"room": {"timeline": {"limit": 1}}}), second)
        self.assertEqual(await self.snapshot(), before)
        # IDs are per user: bob's first filter is not alice's.
        bobs = await self.upload(self.bob, BOB, {"presence": {"types": []}})
        self.assertEqual(bobs, first)
        r = await self.get(f"{V3}/user/{BOB}/filter/{bobs}", token=self.bob)
        self.assertEqual(r.json, {"presence": {"types": []}})
        r = await self.get(f"{V3}/user/{ALICE}/filter/{first}", token=self.alice)
        self.assertEqual(r.json, {})
        # Unknown keys are kept (a filter from a newer spec).
        third = await self.upload(self.alice, ALICE, {"org.example.future": {"x": 1}})
        r = await self.get(f"{V3}/user/{ALICE}/filter/{third}", token=self.alice)
        self.assertEqual(r.json, {"org.example.future": {"x": 1}})

    async def test_concurrent_uploads_get_distinct_ids(self) -> None:
        await self.users()
        ids = await defer.gatherResults([
            defer.ensureDeferred(self.upload(self.alice, ALICE, {"room": {"timeline": {"limit": n}}}))
            for n in range(1, 6)])
        self.assertEqual(len(set(ids)), 5)
        for n, filter_id in enumerate(ids, start=1):
            r = await self.get(f"{V3}/user/{ALICE}/filter/{filter_id}", token=self.alice)
            self.assertEqual(r.json, {"room": {"timeline": {"limit": n}}})


class RefusalTest(FilterTestCase):
    async def test_bad_filters_change_nothing(self) -> None:
        await self.users()
        path = f"{V3}/user/{ALICE}/filter"
        for body, errcode, field in (
            ({"room": {"timeline": {"limit": "ten"}}}, "M_BAD_JSON", "room.timeline.limit"),
            ({"presence": {"senders": "@a:test"}}, "M_BAD_JSON", "presence.senders"),
            ({"room": {"include_leave": 1}}, "M_BAD_JSON", "room.include_leave"),
            ({"room": {"state": {"lazy_load_members": "true"}}}, "M_BAD_JSON", "room.state.lazy_load_members"),
            ({"room": {"timeline": {"limit": 0}}}, "M_INVALID_PARAM", "room.timeline.limit"),
            ({"room": {"not_rooms": ["room"]}}, "M_INVALID_PARAM", "room.not_rooms.0"),
            ({"event_format": "xml"}, "M_INVALID_PARAM", "event_format"),
            ({"room": {"timeline": {"types": ["*" * 1001]}}}, "M_INVALID_PARAM", "room.timeline.types.0"),
            ({"presence": {"not_types": ["m.*"] * 1001}}, "M_INVALID_PARAM", "presence.not_types"),
        ):
            r = await self.assert_rejected_without_change("POST", path, body, 400, errcode, token=self.alice)
            self.assertIn(field, r.json["error"])
        await self.assert_rejected_without_change("POST", path, None, 400, "M_NOT_JSON", token=self.alice,
                                                  raw_body=b"{not json")
        await self.assert_rejected_without_change("POST", path, [1], 400, "M_BAD_JSON", token=self.alice)
        await self.assert_rejected_without_change("POST", path, {}, 401, "M_MISSING_TOKEN")

    async def test_other_users(self) -> None:
        await self.users()
        filter_id = await self.upload(self.alice, ALICE, {"room": {"timeline": {"limit": 3}}})
        # Bob may not upload a filter for alice, nor read hers.
        await self.assert_rejected_without_change("POST", f"{V3}/user/{ALICE}/filter", {}, 403, "M_FORBIDDEN",
                                                  token=self.bob)
        await self.assert_rejected_without_change(
            "POST", f"{V3}/user/{quote('@alice:elsewhere')}/filter", {}, 403, "M_FORBIDDEN", token=self.alice)
        r = await self.get(f"{V3}/user/{ALICE}/filter/{filter_id}", token=self.bob)
        self.assert_error(r, 403, "M_FORBIDDEN")
        # Her filter ID is not one of bob's.
        r = await self.get(f"{V3}/user/{BOB}/filter/{filter_id}", token=self.bob)
        self.assert_error(r, 404, "M_NOT_FOUND")
        # Nor can bob use it in /sync.
        r = await self.get(f"{V3}/sync?filter={filter_id}", token=self.bob)
        self.assert_error(r, 400, "M_INVALID_PARAM")

    async def test_unknown_filters(self) -> None:
        await self.users()
        for filter_id in ("0", "7", "abc", "-1", "99999999999999999999999", quote("١")):
            r = await self.get(f"{V3}/user/{ALICE}/filter/{filter_id}", token=self.alice)
            self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.get(f"{V3}/user/{ALICE}/filter/0")
        self.assert_error(r, 401, "M_MISSING_TOKEN")


class UseTest(FilterTestCase):
    async def test_sync_with_a_stored_filter(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, name="Room")
        for i in range(4):
            await self.send(self.alice, room_id, f"message {i}", f"t{i}")
        filter_id = await self.upload(self.alice, ALICE, {"room": {"timeline": {"limit": 2,
                                                                                "types": ["m.room.message"]}}})
        r = await self.get(f"{V3}/sync?filter={filter_id}", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        timeline = r.json["rooms"]["join"][room_id]["timeline"]["events"]
        self.assertEqual([e["content"]["body"] for e in timeline], ["message 2", "message 3"])

    async def test_sync_inline_filter_is_validated(self) -> None:
        await self.users()
        f = quote(json.dumps({"room": {"timeline": {"limit": "ten"}}}))
        r = await self.get(f"{V3}/sync?filter={f}", token=self.alice)
        self.assert_error(r, 400, "M_BAD_JSON")
        self.assertIn("room.timeline.limit", r.json["error"])
        r = await self.get(f"{V3}/sync?filter={quote('{nope')}", token=self.alice)
        self.assert_error(r, 400, "M_NOT_JSON")
        f = quote(json.dumps({"room": {"timeline": {"limit": 1}}}))
        r = await self.get(f"{V3}/sync?filter={f}", token=self.alice)
        self.assertEqual(r.code, 200, r.json)

    async def test_messages_filters(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, name="Room")
        room = quote(room_id)
        await self.send(self.alice, room_id, "text", "t1")
        r = await self.request("PUT", f"{V3}/rooms/{room}/send/m.room.message/t2",
                               {"msgtype": "m.image", "body": "pic", "url": "mxc://test/abc"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)

        async def messages(f) -> list:
            r = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=50&filter={quote(json.dumps(f))}",
                               token=self.alice)
            self.assertEqual(r.code, 200, r.json)
            return r.json["chunk"]

        self.assertEqual([e["content"]["body"] for e in await messages(
            {"types": ["m.room.message"], "contains_url": True})], ["pic"])
        self.assertEqual([e["content"]["body"] for e in await messages(
            {"types": ["m.room.message"], "contains_url": False})], ["text"])
        self.assertEqual({e["type"] for e in await messages({"types": ["m.room.*"], "not_types": ["m.room.m*"]})},
                         {"m.room.create", "m.room.power_levels", "m.room.join_rules", "m.room.history_visibility",
                          "m.room.guest_access", "m.room.name"})
        self.assertEqual(await messages({"not_rooms": [room_id]}), [])
        self.assertEqual(await messages({"rooms": ["!other:test"]}), [])
        self.assertEqual(len(await messages({"rooms": [room_id], "types": ["m.room.message"]})), 2)
        self.assertEqual(await messages({"not_senders": ["@alice:test"]}), [])
        r = await self.get(f"{V3}/rooms/{room}/messages?dir=b&filter={quote(json.dumps({'limit': 'ten'}))}",
                           token=self.alice)
        self.assert_error(r, 400, "M_BAD_JSON")
        self.assertIn("filter.limit", r.json["error"])

    async def test_context_filters(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, name="Room")
        room = quote(room_id)
        ids = [await self.send(self.alice, room_id, f"m{i}", f"t{i}") for i in range(3)]
        f = quote(json.dumps({"types": ["m.room.message"], "contains_url": False}))
        r = await self.get(f"{V3}/rooms/{room}/context/{quote(ids[1])}?limit=10&filter={f}", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual([e["event_id"] for e in r.json["events_before"]], [ids[0]])
        self.assertEqual([e["event_id"] for e in r.json["events_after"]], [ids[2]])
        self.assertEqual(r.json["state"], [])  # no state event is an m.room.message
        f = quote(json.dumps({"lazy_load_members": "yes"}))
        r = await self.get(f"{V3}/rooms/{room}/context/{quote(ids[1])}?filter={f}", token=self.alice)
        self.assert_error(r, 400, "M_BAD_JSON")
