"""Presence: set and read, shared through /sync with users who share a room, timeouts on the clock."""

from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase


def presence_of(sync: dict, user: str) -> dict | None:
    events = [e for e in sync.get("presence", {}).get("events", []) if e["sender"] == user]
    return events[-1]["content"] if events else None


class PresenceTest(RoomsTestCase):
    async def test_status_and_sync(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        bob_first = (await self.get(f"{V3}/sync", token=self.bob)).json
        self.assertEqual(presence_of(bob_first, "@bob:test")["presence"], "online")  # syncing makes you online
        r = await self.request("PUT", f"{V3}/presence/@alice:test/status",
                               {"presence": "unavailable", "status_msg": "lunch"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"{V3}/presence/@alice:test/status", token=self.bob)
        self.assertEqual((r.json["presence"], r.json["status_msg"]), ("unavailable", "lunch"))
        delta = (await self.get(f"{V3}/sync?since={bob_first['next_batch']}", token=self.bob)).json
        self.assertEqual(presence_of(delta, "@alice:test"), {"presence": "unavailable", "status_msg": "lunch"})
        # Bob stops syncing: after the offline timeout he is offline.
        self.advance(90)
        r = await self.get(f"{V3}/presence/@bob:test/status", token=self.alice)
        self.assertEqual(r.json["presence"], "offline")
        # Refusals.
        await self.assert_rejected_without_change("PUT", f"{V3}/presence/@alice:test/status", {"presence": "online"},
                                                  403, "M_FORBIDDEN", token=self.bob)
        await self.assert_rejected_without_change("PUT", f"{V3}/presence/@bob:test/status", {"presence": "busy"},
                                                  400, "M_INVALID_PARAM", token=self.bob)
        carol = (await self.register("carol"))["access_token"]
        self.assert_error(await self.get(f"{V3}/presence/@alice:test/status", token=carol), 403, "M_FORBIDDEN")
        self.assert_error(await self.get(f"{V3}/presence/@ghost:test/status", token=carol), 404, "M_NOT_FOUND")

    async def test_new_room_mates_presence_arrives_although_unchanged(self) -> None:
        # Both are online before they share a room: neither's presence changes afterwards, yet
        # each client must learn the other's once they meet (and only then).
        await self.users()
        alice_first = (await self.get(f"{V3}/sync", token=self.alice)).json
        bob_first = (await self.get(f"{V3}/sync", token=self.bob)).json
        self.assertIsNone(presence_of(alice_first, "@bob:test"))
        room_id = await self.create(self.alice, preset="public_chat")
        quiet = (await self.get(f"{V3}/sync?since={alice_first['next_batch']}", token=self.alice)).json
        self.assertIsNone(presence_of(quiet, "@bob:test"))
        await self.post(f"{V3}/rooms/{quote(room_id)}/join", {}, token=self.bob)
        alice_delta = (await self.get(f"{V3}/sync?since={quiet['next_batch']}", token=self.alice)).json
        self.assertEqual(presence_of(alice_delta, "@bob:test")["presence"], "online")
        bob_delta = (await self.get(f"{V3}/sync?since={bob_first['next_batch']}", token=self.bob)).json
        self.assertEqual(presence_of(bob_delta, "@alice:test")["presence"], "online")
        # Once told, not again until it changes.
        again = (await self.get(f"{V3}/sync?since={alice_delta['next_batch']}", token=self.alice)).json
        self.assertIsNone(presence_of(again, "@bob:test"))

    async def test_idle_becomes_unavailable(self) -> None:
        await self.users()
        first = (await self.get(f"{V3}/sync?timeout=0", token=self.alice)).json
        for _ in range(22):  # keep syncing (so not offline) without activity (set_presence=offline)
            self.advance(15)
            await self.pump(1)  # the presence check's write finishes (a sync may not touch the database)
            await self.get(f"{V3}/sync?timeout=0&set_presence=offline&since={first['next_batch']}",
                           token=self.alice)
        r = await self.get(f"{V3}/presence/@alice:test/status", token=self.alice)
        self.assertEqual(r.json["presence"], "unavailable")


class PresenceDisabledTest(RoomsTestCase):
    config_overrides = {"presence": {"enabled": False}}

    async def test_nothing_is_tracked(self) -> None:
        await self.users()
        first = (await self.get(f"{V3}/sync", token=self.alice)).json
        self.assertNotIn("presence", first)
        r = await self.request("PUT", f"{V3}/presence/@alice:test/status", {"presence": "online"}, token=self.alice)
        self.assertEqual(r.code, 200)
        r = await self.get(f"{V3}/presence/@alice:test/status", token=self.alice)
        self.assertEqual(r.json["presence"], "offline")
