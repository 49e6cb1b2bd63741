"""A user's room settings follow a room upgrade when they join the new room (spec: room upgrades,
server behaviour): tags, room-specific push rules, and m.direct."""

from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase

BOB = "@bob:test"


class UpgradeSettingsTest(RoomsTestCase):
    async def put(self, path: str, body: dict, token: str) -> None:
        r = await self.request("PUT", f"{V3}{path}", body, token=token)
        self.assertEqual(r.code, 200, r.json)

    async def test_tags_push_rules_and_direct_follow_the_upgrade(self) -> None:
        await self.users()
        old = await self.create(self.alice, preset="public_chat")
        r = await self.post(f"{V3}/join/{quote(old)}", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        await self.put(f"/user/{BOB}/rooms/{quote(old)}/tags/m.favourite", {"order": 0.5}, self.bob)
        await self.put(f"/pushrules/global/room/{quote(old)}", {"actions": []}, self.bob)
        await self.put("/pushrules/global/override/mute-old", {
            "actions": [], "conditions": [{"kind": "event_match", "key": "room_id", "pattern": old}]}, self.bob)
        await self.put("/pushrules/global/override/unrelated", {
            "actions": [], "conditions": [{"kind": "event_match", "key": "sender", "pattern": "@x:test"}]}, self.bob)
        await self.put(f"/user/{BOB}/account_data/m.direct", {"@alice:test": [old, "!other:test"]}, self.bob)
        await self.put(f"/user/@alice:test/rooms/{quote(old)}/tags/u.work", {}, self.alice)

        r = await self.post(f"{V3}/rooms/{quote(old)}/upgrade", {"new_version": "11"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        new = r.json["replacement_room"]
        await self.hs.upgrade_settings_handler.drain()
        # The upgrader joined the new room by creating it.
        r = await self.get(f"{V3}/user/@alice:test/rooms/{quote(new)}/tags", token=self.alice)
        self.assertEqual(r.json, {"tags": {"u.work": {}}})
        # Bob's follow when he joins.
        r = await self.get(f"{V3}/user/{BOB}/rooms/{quote(new)}/tags", token=self.bob)
        self.assertEqual(r.json, {"tags": {}})
        r = await self.post(f"{V3}/join/{quote(new)}", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        await self.hs.upgrade_settings_handler.drain()

        r = await self.get(f"{V3}/user/{BOB}/rooms/{quote(new)}/tags", token=self.bob)
        self.assertEqual(r.json, {"tags": {"m.favourite": {"order": 0.5}}})
        r = await self.get(f"{V3}/pushrules/global/room/{quote(new)}", token=self.bob)
        self.assertEqual((r.code, r.json.get("actions")), (200, []), r.json)
        r = await self.get(f"{V3}/pushrules/", token=self.bob)
        overrides = [rule for rule in r.json["global"]["override"] if not rule["default"]]
        moved = [rule for rule in overrides if rule["conditions"][0].get("pattern") == new]
        self.assertEqual(len(moved), 1, overrides)
        self.assertEqual(moved[0]["actions"], [])
        self.assertEqual(len(overrides), 3)  # the old room's, its copy, the unrelated one
        r = await self.get(f"{V3}/user/{BOB}/account_data/m.direct", token=self.bob)
        self.assertEqual(r.json, {"@alice:test": [new, "!other:test"]})

        # A later display name change (join -> join) copies nothing again.
        r = await self.request("DELETE", f"{V3}/user/{BOB}/rooms/{quote(new)}/tags/m.favourite", token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        await self.put(f"/rooms/{quote(new)}/state/m.room.member/{BOB}",
                       {"membership": "join", "displayname": "Bobby"}, self.bob)
        await self.hs.upgrade_settings_handler.drain()
        r = await self.get(f"{V3}/user/{BOB}/rooms/{quote(new)}/tags", token=self.bob)
        self.assertEqual(r.json, {"tags": {}})
