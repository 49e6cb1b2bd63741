"""Forgotten rooms (POST /rooms/{roomId}/forget) stay out of the lists of left rooms: /sync with
include_leave (initial and incremental) and /initialSync?archived=true; a rejoin brings them back."""

import json
from urllib.parse import quote

from tests.rest.test_rooms import V3, RoomsTestCase

INCLUDE_LEAVE = quote(json.dumps({"room": {"include_leave": True}}))


class ForgottenRoomsTest(RoomsTestCase):
    async def sync(self, since: str | None = None) -> dict:
        r = await self.get(f"{V3}/sync?filter={INCLUDE_LEAVE}" + (f"&since={since}" if since else ""),
                           token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def leave_and_forget(self, room_id: str) -> None:
        for action in ("leave", "forget"):
            r = await self.post(f"{V3}/rooms/{quote(room_id)}/{action}", {}, token=self.bob)
            self.assertEqual(r.code, 200, r.json)

    async def test_forgotten_rooms_are_not_listed_as_left(self) -> None:
        await self.users()
        forgotten = await self.create(self.alice, preset="public_chat")
        kept = await self.create(self.alice, preset="public_chat")
        for room_id in (forgotten, kept):
            r = await self.post(f"{V3}/join/{quote(room_id)}", {}, token=self.bob)
            self.assertEqual(r.code, 200, r.json)
        since = (await self.sync())["next_batch"]
        # Left and forgotten within one incremental window.
        await self.leave_and_forget(forgotten)
        r = await self.post(f"{V3}/rooms/{quote(kept)}/leave", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        left = (await self.sync(since)).get("rooms", {}).get("leave", {})
        self.assertEqual(sorted(left), [kept])
        self.assertEqual(sorted((await self.sync())["rooms"]["leave"]), [kept])
        r = await self.get(f"{V3}/initialSync?archived=true&limit=1", token=self.bob)
        self.assertEqual([room["room_id"] for room in r.json["rooms"]], [kept])

        # Rejoining remembers it.
        r = await self.post(f"{V3}/join/{quote(forgotten)}", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(f"{V3}/rooms/{quote(forgotten)}/leave", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(sorted((await self.sync())["rooms"]["leave"]), sorted([kept, forgotten]))

    async def test_banned_then_forgotten(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, preset="public_chat")
        r = await self.post(f"{V3}/join/{quote(room_id)}", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/ban", {"user_id": "@bob:test"}, token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertIn(room_id, (await self.sync())["rooms"]["leave"])
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/forget", {}, token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertNotIn(room_id, (await self.sync()).get("rooms", {}).get("leave", {}))
