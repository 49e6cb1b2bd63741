"""Device lists in /sync and /keys/changes: whose keys changed among those sharing a room,
who newly shares one, who no longer shares any; long-polls woken by another user's keys."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from twisted.internet import defer

from tests.rest.e2e_support import CrossSigning, E2ETestCase
from tests.rest.test_rooms import V3


class DeviceListsTestCase(E2ETestCase):
    async def people(self) -> str:
        """alice and bob share a room; carol shares none with them. Returns the room."""
        self.a, self.a_device = await self.account("alice")
        self.b, self.b_device = await self.account("bob")
        self.c, self.c_device = await self.account("carol")
        room_id = await self.create(self.a["access_token"], preset="public_chat")
        await self.join(self.b, room_id)
        return room_id

    async def join(self, who: dict[str, Any], room_id: str) -> None:
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=who["access_token"])
        self.assertEqual(r.code, 200, r.json)

    async def leave(self, who: dict[str, Any], room_id: str) -> None:
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/leave", {}, token=who["access_token"])
        self.assertEqual(r.code, 200, r.json)

    async def since(self, who: dict[str, Any]) -> str:
        return (await self.sync(who["access_token"]))["next_batch"]

    async def lists(self, who: dict[str, Any], since: str) -> dict[str, list[str]]:
        return (await self.sync(who["access_token"], since)).get("device_lists", {})

    async def changes(self, who: dict[str, Any], since: str) -> dict[str, list[str]]:
        to = await self.since(who)
        r = await self.get(f"{V3}/keys/changes?from={since}&to={to}", token=who["access_token"])
        self.assertEqual(r.code, 200, r.json)
        return r.json


class KeyChangesTest(DeviceListsTestCase):
    async def test_key_upload_is_seen_by_room_members_only(self) -> None:
        await self.people()
        a_since, b_since, c_since = await self.since(self.a), await self.since(self.b), await self.since(self.c)
        await self.upload(self.b["access_token"], {"device_keys": self.b_device.device_keys()})
        self.assertEqual(await self.lists(self.a, a_since), {"changed": ["@bob:test"], "left": []})
        self.assertEqual(await self.changes(self.a, a_since), {"changed": ["@bob:test"], "left": []})
        self.assertEqual(await self.lists(self.b, b_since), {"changed": ["@bob:test"], "left": []})
        self.assertEqual(await self.lists(self.c, c_since), {})
        self.assertEqual(await self.changes(self.c, c_since), {"changed": [], "left": []})
        # One-time keys alone are no device-list change.
        a_since = await self.since(self.a)
        await self.upload(self.b["access_token"], {"one_time_keys": self.b_device.one_time_keys(3)})
        self.assertEqual(await self.lists(self.a, a_since), {})

    async def test_long_poll_woken_by_another_users_key_upload(self) -> None:
        await self.people()
        since = await self.since(self.a)
        waiting = defer.ensureDeferred(self.get(f"{V3}/sync?since={since}&timeout=30000", token=self.a["access_token"]))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        self.assertFalse(waiting.called)
        await self.upload(self.b["access_token"], {"device_keys": self.b_device.device_keys()})
        r = await waiting
        self.assertEqual(r.json["device_lists"], {"changed": ["@bob:test"], "left": []})
        self.assertEqual(r.json["device_one_time_keys_count"], {"signed_curve25519": 0})

    async def test_long_poll_not_woken_by_a_stranger(self) -> None:
        await self.people()
        since = await self.since(self.a)
        waiting = defer.ensureDeferred(self.get(f"{V3}/sync?since={since}&timeout=10000", token=self.a["access_token"]))
        await self.pump_until(lambda: self.hs.notifier.waiter_count() == 1)
        await self.upload(self.c["access_token"], {"device_keys": self.c_device.device_keys()})
        await self.pump()
        self.assertFalse(waiting.called)
        self.advance(11)
        r = await waiting
        self.assertNotIn("device_lists", r.json)

    async def test_device_login_rename_and_delete(self) -> None:
        await self.people()
        since = await self.since(self.a)
        second = await self.login("bob")
        self.assertEqual((await self.lists(self.a, since))["changed"], ["@bob:test"])
        since = await self.since(self.a)
        r = await self.request("PUT", f"{V3}/devices/{second['device_id']}", {"display_name": "Tablet"},
                               token=self.b["access_token"])
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.lists(self.a, since))["changed"], ["@bob:test"])
        since = await self.since(self.a)
        await self.post(f"{V3}/logout", {}, token=second["access_token"])
        self.assertEqual((await self.lists(self.a, since))["changed"], ["@bob:test"])

    async def test_cross_signing_keys_and_signatures(self) -> None:
        await self.people()
        room_id = await self.create(self.c["access_token"], preset="public_chat")
        await self.join(self.b, room_id)  # carol shares a room with bob, not with alice
        since = {who["user_id"]: await self.since(who) for who in (self.a, self.b, self.c)}
        bob_cross = CrossSigning("@bob:test")
        r = await self.post(f"{V3}/keys/device_signing/upload", bob_cross.upload_body(), token=self.b["access_token"])
        self.assertEqual(r.code, 200, r.json)
        for who in (self.a, self.c):
            self.assertEqual((await self.lists(who, since[who["user_id"]]))["changed"], ["@bob:test"])
        # Alice signs bob's master key: only alice hears of it.
        alice_cross = CrossSigning("@alice:test")
        await self.post(f"{V3}/keys/device_signing/upload", alice_cross.upload_body(), token=self.a["access_token"])
        since = {who["user_id"]: await self.since(who) for who in (self.a, self.b, self.c)}
        signed = alice_cross.user_signing.sign("@alice:test", bob_cross.key("master"))
        r = await self.post(f"{V3}/keys/signatures/upload", {"@bob:test": {bob_cross.master.public: signed}},
                            token=self.a["access_token"])
        self.assertEqual(r.json, {"failures": {}})
        self.assertEqual((await self.lists(self.a, since["@alice:test"]))["changed"], ["@bob:test"])
        self.assertEqual(await self.lists(self.b, since["@bob:test"]), {})
        self.assertEqual(await self.lists(self.c, since["@carol:test"]), {})


class MembershipChangesTest(DeviceListsTestCase):
    async def test_join_makes_changed_and_leave_makes_left(self) -> None:
        room_id = await self.people()
        a_since = await self.since(self.a)
        c_since = await self.since(self.c)
        await self.join(self.c, room_id)
        # Alice now shares a room with carol, and carol with alice and bob.
        self.assertEqual(await self.lists(self.a, a_since), {"changed": ["@carol:test"], "left": []})
        self.assertEqual(await self.lists(self.c, c_since), {"changed": ["@alice:test", "@bob:test"], "left": []})
        a_since = await self.since(self.a)
        c_since = await self.since(self.c)
        await self.leave(self.c, room_id)
        self.assertEqual(await self.lists(self.a, a_since), {"changed": [], "left": ["@carol:test"]})
        self.assertEqual(await self.lists(self.c, c_since), {"changed": [], "left": ["@alice:test", "@bob:test"]})
        self.assertEqual(await self.changes(self.a, a_since), {"changed": [], "left": ["@carol:test"]})

    async def test_leaving_one_of_two_shared_rooms_is_not_left(self) -> None:
        await self.people()
        other = await self.create(self.a["access_token"], preset="public_chat")
        await self.join(self.b, other)
        since = await self.since(self.a)
        await self.leave(self.b, other)
        self.assertNotIn("@bob:test", (await self.lists(self.a, since)).get("left", []))

    async def test_after_leaving_no_more_changes(self) -> None:
        room_id = await self.people()
        await self.leave(self.b, room_id)
        since = await self.since(self.a)
        await self.upload(self.b["access_token"], {"device_keys": self.b_device.device_keys()})
        self.assertEqual(await self.lists(self.a, since), {})


class TokenTest(DeviceListsTestCase):
    async def test_bad_tokens(self) -> None:
        await self.people()
        since = await self.since(self.a)
        parts = since.split("_")
        parts[6] = str(int(parts[6]) + 100)
        r = await self.get(f"{V3}/sync?since={'_'.join(parts)}", token=self.a["access_token"])
        self.assert_error(r, 400, "M_INVALID_PARAM")
        for query in (f"from={since}", f"from=nonsense&to={since}", f"from={since}&to=s1_x"):
            r = await self.get(f"{V3}/keys/changes?{query}", token=self.a["access_token"])
            self.assertEqual(r.code, 400, r.json)
            self.assertIn(r.json["errcode"], ("M_MISSING_PARAM", "M_INVALID_PARAM"))

    async def test_positions_survive_a_restart(self) -> None:
        await self.people()
        await self.upload(self.b["access_token"], {"device_keys": self.b_device.device_keys()})
        position = self.hs.device_lists_handler.position
        self.assertGreater(position, 0)
        await self.hs.device_lists_store.load()
        self.assertEqual(self.hs.device_lists_handler.position, position)
