"""Shared fixtures for the admin API tests: an admin, an ordinary user, and checks that every
endpoint refuses non-admins and unknown users without changing anything."""

from __future__ import annotations

from typing import Any

from tests.server import HomeserverTestCase


class AdminTestCase(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.admin = (await self.register("admin"))["access_token"]
        await self.hs.users_store.set_admin("@admin:test", True)
        self.alice = (await self.register("alice"))["access_token"]

    async def assert_admin_only(self, method: str, path: str, body: Any = None) -> None:
        """Without a token: 401; with a non-admin's: 403 M_FORBIDDEN; neither changes anything."""
        await self.assert_rejected_without_change(method, path, body, 401, "M_MISSING_TOKEN")
        await self.assert_rejected_without_change(method, path, body, 403, "M_FORBIDDEN", token=self.alice)

    async def create_room(self, token: str, **body: Any) -> str:
        r = await self.post("/_matrix/client/v3/createRoom", body, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["room_id"]

    async def send_text(self, token: str, room_id: str, text: str, txn: str) -> Any:
        return await self.request("PUT", f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}",
                                  {"msgtype": "m.text", "body": text}, token=token)

    async def join(self, token: str, room_id: str) -> Any:
        return await self.post(f"/_matrix/client/v3/rooms/{room_id}/join", {}, token=token)
