"""Concurrent creation of identical v12 rooms by one user in the same millisecond: distinct
room IDs (the create event's hash is the ID), no 500."""

from twisted.internet import defer

from tests.rest.test_rooms import V3, RoomsTestCase


class ConcurrentV12CreationTest(RoomsTestCase):
    async def test_concurrent_identical_rooms(self) -> None:
        await self.users()
        responses = await defer.gatherResults([
            defer.ensureDeferred(self.post(f"{V3}/createRoom", {"room_version": "12"}, token=self.alice))
            for _ in range(4)])
        self.assertEqual([r.code for r in responses], [200] * 4, [r.json for r in responses])
        room_ids = {r.json["room_id"] for r in responses}
        self.assertEqual(len(room_ids), 4)
        r = await self.get(f"{V3}/joined_rooms", token=self.alice)
        self.assertEqual(set(r.json["joined_rooms"]), room_ids)
