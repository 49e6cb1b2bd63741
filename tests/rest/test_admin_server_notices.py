"""Server notices (admin API /send_server_notice, spec's server notices module): one notices room
per user, tagged m.server_notice, which the user can neither reject nor leave."""

from __future__ import annotations

from typing import Any

from tests.rest.admin_support import AdminTestCase

V1 = "/_synapse/admin/v1"
NOTICE = {"msgtype": "m.text", "body": "Maintenance tonight"}


class ServerNoticesTest(AdminTestCase):
    config_overrides = {"server_notices": {"system_mxid_localpart": "notices", "system_mxid_display_name": "Notices",
                                           "room_name": "Server Notices", "room_topic": "From the operators"}}

    async def _send(self, body: dict[str, Any], txn: str | None = None) -> Any:
        if txn is None:
            return await self.post(f"{V1}/send_server_notice", body, token=self.admin)
        return await self.request("PUT", f"{V1}/send_server_notice/{txn}", body, token=self.admin)

    async def test_one_room_per_user_tagged_and_not_leavable(self) -> None:
        r = await self._send({"user_id": "@alice:test", "content": NOTICE})
        self.assertEqual(r.code, 200, r.json)
        first = r.json["event_id"]
        invited = await self.hs.events_store.get_rooms_for_user("@alice:test", "invite")
        self.assertEqual(len(invited), 1)
        room_id = invited[0]
        r = await self.get(f"/_matrix/client/v3/user/@alice:test/rooms/{room_id}/tags", token=self.alice)
        self.assertEqual(r.json, {"tags": {"m.server_notice": {}}})
        # Declining the invite is refused; joining works; leaving is refused too.
        r = await self.post(f"/_matrix/client/v3/rooms/{room_id}/leave", {}, token=self.alice)
        self.assert_error(r, 403, "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM")
        self.assertEqual((await self.join(self.alice, room_id)).code, 200)
        self.assert_error(await self.post(f"/_matrix/client/v3/rooms/{room_id}/leave", {}, token=self.alice), 403,
                          "M_CANNOT_LEAVE_SERVER_NOTICE_ROOM")
        # The second notice goes to the same room; the user cannot write there.
        r = await self._send({"user_id": "@alice:test", "content": {"msgtype": "m.text", "body": "Done"}})
        self.assertEqual(r.code, 200, r.json)
        r = await self.get(f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b", token=self.alice)
        bodies = [(e["event_id"], e["sender"], e["content"].get("body")) for e in r.json["chunk"]
                  if e["type"] == "m.room.message"]
        self.assertEqual(bodies[1], (first, "@notices:test", "Maintenance tonight"))
        self.assertEqual(bodies[0][1:], ("@notices:test", "Done"))
        self.assertEqual((await self.send_text(self.alice, room_id, "hi", "t1")).code, 403)
        r = await self.get(f"/_matrix/client/v3/rooms/{room_id}/state/m.room.name/", token=self.alice)
        self.assertEqual(r.json["name"], "Server Notices")
        r = await self.get("/_matrix/client/v3/profile/@notices:test/displayname", token=self.alice)
        self.assertEqual(r.json["displayname"], "Notices")
        self.assertEqual(await self.hs.events_store.get_rooms_for_user("@alice:test", "invite"), [])

    async def test_txn_id_idempotent(self) -> None:
        one = await self._send({"user_id": "@alice:test", "content": NOTICE}, txn="abc")
        two = await self._send({"user_id": "@alice:test", "content": NOTICE}, txn="abc")
        self.assertEqual((one.code, one.json), (two.code, two.json))
        three = await self._send({"user_id": "@alice:test", "content": NOTICE}, txn="def")
        self.assertNotEqual(three.json["event_id"], one.json["event_id"])

    async def test_refusals(self) -> None:
        path = f"{V1}/send_server_notice"
        await self.assert_admin_only("POST", path, {"user_id": "@alice:test", "content": NOTICE})
        for body, code, errcode in (
                ({"content": NOTICE}, 400, "M_MISSING_PARAM"),
                ({"user_id": "@alice:test", "content": "text"}, 400, "M_BAD_JSON"),
                ({"user_id": "@bob:elsewhere", "content": NOTICE}, 400, "M_INVALID_PARAM"),
                ({"user_id": "@nobody:test", "content": NOTICE}, 404, "M_NOT_FOUND")):
            await self.assert_rejected_without_change("POST", path, body, code, errcode, token=self.admin)


class NoServerNoticesTest(AdminTestCase):
    async def test_disabled(self) -> None:
        r = await self.post(f"{V1}/send_server_notice", {"user_id": "@alice:test", "content": NOTICE},
                            token=self.admin)
        self.assert_error(r, 400, "M_UNKNOWN")
