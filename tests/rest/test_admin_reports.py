"""Admin API: event reports (filled by the client's POST /rooms/{roomId}/report/{eventId}) listed,
shown and deleted; the server version; background updates."""

from __future__ import annotations

from homeserver import __version__
from tests.rest.admin_support import AdminTestCase

V1 = "/_synapse/admin/v1"


class EventReportsTest(AdminTestCase):
    async def _report(self, token: str, room_id: str, event_id: str, reason: str) -> None:
        r = await self.post(f"/_matrix/client/v3/rooms/{room_id}/report/{event_id}", {"reason": reason}, token=token)
        self.assertEqual(r.code, 200, r.json)

    async def test_list_show_delete(self) -> None:
        bob = (await self.register("bob"))["access_token"]
        room_id = await self.create_room(self.alice, name="Lobby", preset="public_chat")
        self.assertEqual((await self.join(bob, room_id)).code, 200)
        spam = (await self.send_text(bob, room_id, "spam", "s1")).json["event_id"]
        rude = (await self.send_text(bob, room_id, "rude", "s2")).json["event_id"]
        await self._report(self.alice, room_id, spam, "spam")
        self.advance(1)
        await self._report(self.alice, room_id, rude, "rude")

        r = await self.get(f"{V1}/event_reports", token=self.admin)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["total"], 2)
        self.assertEqual([x["reason"] for x in r.json["event_reports"]], ["rude", "spam"])  # newest first
        first = r.json["event_reports"][0]
        self.assertEqual({k: first[k] for k in ("room_id", "name", "event_id", "user_id", "sender")},
                         {"room_id": room_id, "name": "Lobby", "event_id": rude, "user_id": "@alice:test",
                          "sender": "@bob:test"})
        r = await self.get(f"{V1}/event_reports?dir=f&limit=1", token=self.admin)
        self.assertEqual(([x["reason"] for x in r.json["event_reports"]], r.json["next_token"]), (["spam"], 1))
        r = await self.get(f"{V1}/event_reports?user_id=nobody", token=self.admin)
        self.assertEqual((r.json["event_reports"], r.json["total"]), ([], 0))
        r = await self.get(f"{V1}/event_reports?room_id={room_id}&event_sender_user_id=@bob:test", token=self.admin)
        self.assertEqual(r.json["total"], 2)

        report_id = first["id"]
        r = await self.get(f"{V1}/event_reports/{report_id}", token=self.admin)
        self.assertEqual((r.json["reason"], r.json["event_json"]["content"]["body"]), ("rude", "rude"))
        for path in (f"{V1}/event_reports", f"{V1}/event_reports/{report_id}"):
            await self.assert_admin_only("GET", path)
        await self.assert_admin_only("DELETE", f"{V1}/event_reports/{report_id}")
        self.assert_error(await self.get(f"{V1}/event_reports/abc", token=self.admin), 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{V1}/event_reports/999", token=self.admin), 404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{V1}/event_reports?dir=x", token=self.admin), 400, "M_INVALID_PARAM")
        await self.assert_rejected_without_change("DELETE", f"{V1}/event_reports/999", None, 404, "M_NOT_FOUND",
                                                  token=self.admin)
        self.assertEqual((await self.request("DELETE", f"{V1}/event_reports/{report_id}", token=self.admin)).json,
                         {})
        self.assertEqual((await self.get(f"{V1}/event_reports", token=self.admin)).json["total"], 1)


class ServerTest(AdminTestCase):
    async def test_server_version_and_background_updates(self) -> None:
        r = await self.get(f"{V1}/server_version")
        self.assertEqual(r.json, {"server_version": __version__})
        r = await self.get(f"{V1}/background_updates/status", token=self.admin)
        self.assertEqual(r.json, {"enabled": True, "current_updates": {}})
        await self.assert_admin_only("GET", f"{V1}/background_updates/status")
