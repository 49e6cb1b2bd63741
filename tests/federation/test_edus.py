"""EDUs across two servers (spec: server-server "Typing Notifications", "Receipts"): typing and
public read receipts go out to the servers in the room and reach their users' /sync; private
receipts stay home; EDUs about users of another server, or of users not in the room, are dropped."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.federation.two_servers import NAME_A, NAME_B, TwoServerTestCase

V3 = "/_matrix/client/v3"
F = "/_matrix/federation/v1"


class EduTest(TwoServerTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice, self.token_a = await self.register_on(self.site, "alice")
        self.bob, self.token_b = await self.register_on(self.site_b, "bob")
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=self.token_a)
        self.room_id = r.json["room_id"]
        r = await self.request("POST", f"{V3}/join/{quote(self.room_id)}?server_name={quote(NAME_A)}", {},
                               token=self.token_b, site=self.site_b)
        assert r.code == 200, r.json

    async def ephemeral(self, on_b: bool) -> dict[str, Any]:
        r = await self.request("GET", f"{V3}/sync", token=self.token_b if on_b else self.token_a,
                               site=self.site_b if on_b else self.site)
        room = r.json.get("rooms", {}).get("join", {}).get(self.room_id, {})
        return {e["type"]: e["content"] for e in room.get("ephemeral", {}).get("events", [])}

    async def test_typing_goes_both_ways_and_stops(self) -> None:
        r = await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/typing/{quote(self.alice)}",
                               {"typing": True, "timeout": 20000}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)

        async def bob_sees(users: list[str]) -> bool:
            return (await self.ephemeral(on_b=True)).get("m.typing", {}).get("user_ids", []) == users

        await self.eventually(lambda: bob_sees([self.alice]))
        r = await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/typing/{quote(self.alice)}",
                               {"typing": False}, token=self.token_a)
        await self.eventually(lambda: bob_sees([]))
        r = await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/typing/{quote(self.bob)}",
                               {"typing": True, "timeout": 20000}, token=self.token_b, site=self.site_b)

        async def alice_sees_bob() -> bool:
            return (await self.ephemeral(on_b=False)).get("m.typing", {}).get("user_ids", []) == [self.bob]

        await self.eventually(alice_sees_bob)
        self.advance(31)  # a remote user's typing ends unless their server renews it
        await self.eventually(lambda: self._nobody_typing_on_a())

    async def _nobody_typing_on_a(self) -> bool:
        return (await self.ephemeral(on_b=False)).get("m.typing", {}).get("user_ids", []) == []

    async def test_public_read_receipts_cross_private_ones_do_not(self) -> None:
        r = await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/send/m.room.message/1",
                               {"msgtype": "m.text", "body": "read me"}, token=self.token_a)
        event_id = r.json["event_id"]

        async def on_b() -> bool:
            return (await self.hs_b.events_store.get_event(event_id)) is not None

        await self.eventually(on_b)
        r = await self.request("POST", f"{V3}/rooms/{quote(self.room_id)}/receipt/m.read.private/"
                               f"{quote(event_id, safe='')}", {}, token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        await self.pump()
        self.assertNotIn("m.receipt", await self.ephemeral(on_b=False))
        r = await self.request("POST", f"{V3}/rooms/{quote(self.room_id)}/receipt/m.read/{quote(event_id, safe='')}",
                               {}, token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)

        async def alice_sees_receipt() -> bool:
            receipt = (await self.ephemeral(on_b=False)).get("m.receipt", {})
            return self.bob in receipt.get(event_id, {}).get("m.read", {})

        await self.eventually(alice_sees_receipt)

    async def test_edus_about_others_are_dropped(self) -> None:
        # B speaks for a user of A, and for a user of its own who is not in the room.
        body = {"origin": NAME_B, "origin_server_ts": 1, "pdus": [], "edus": [
            {"edu_type": "m.typing", "content": {"room_id": self.room_id, "user_id": self.alice, "typing": True}},
            {"edu_type": "m.typing", "content": {"room_id": self.room_id, "user_id": f"@carol:{NAME_B}",
                                                 "typing": True}},
            {"edu_type": "m.receipt", "content": {self.room_id: {"m.read": {self.alice: {"event_ids": ["$x"],
                                                                                       "data": {"ts": 1}}}}}},
            {"edu_type": "m.receipt", "content": {self.room_id: "garbage"}},
            {"edu_type": "m.unknown", "content": {}},
            "not an edu",
        ]}
        answer = await self.link_b.put_json(NAME_A, f"{F}/send/forged", body)
        self.assertEqual(answer, {"pdus": {}})
        eph = await self.ephemeral(on_b=False)
        self.assertEqual(eph.get("m.typing", {}).get("user_ids", []), [])
        self.assertNotIn("m.receipt", eph)

    async def test_presence_reaches_the_other_server(self) -> None:
        r = await self.request("PUT", f"{V3}/presence/{quote(self.alice)}/status",
                               {"presence": "unavailable", "status_msg": "lunch"}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)

        async def bob_sees_alice() -> bool:
            r = await self.request("GET", f"{V3}/presence/{quote(self.alice)}/status", token=self.token_b,
                                   site=self.site_b)
            return r.code == 200 and r.json.get("presence") == "unavailable" and r.json.get("status_msg") == "lunch"

        await self.eventually(bob_sees_alice)
        r = await self.request("GET", f"{V3}/sync", token=self.token_b, site=self.site_b)
        senders = {e["sender"]: e["content"] for e in r.json.get("presence", {}).get("events", [])}
        self.assertEqual(senders[self.alice]["presence"], "unavailable")
        # A remote user is never timed out here: their server says when they go.
        self.advance(3600)
        await self.pump()
        self.assertTrue(await bob_sees_alice())
        # Presence of a user of another server, or of one sharing no room, is dropped.
        body = {"origin": NAME_B, "origin_server_ts": 1, "pdus": [], "edus": [
            {"edu_type": "m.presence", "content": {"push": [{"user_id": self.alice, "presence": "offline"},
                                                            {"user_id": f"@stranger:{NAME_B}", "presence": "online"},
                                                            "junk"]}}]}
        await self.link_b.put_json(NAME_A, f"{F}/send/forged-presence", body)
        r = await self.request("GET", f"{V3}/presence/{quote(self.alice)}/status", token=self.token_a)
        self.assertEqual(r.json["presence"], "unavailable")
        r = await self.request("GET", f"{V3}/presence/{quote('@stranger:' + NAME_B)}/status", token=self.token_a)
        self.assertEqual(r.code, 404)

    async def test_profiles_of_the_other_server_s_users(self) -> None:
        r = await self.request("PUT", f"{V3}/profile/{quote(self.alice)}/displayname", {"displayname": "Alice A"},
                               token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("GET", f"{V3}/profile/{quote(self.alice)}", token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["displayname"], "Alice A")
        r = await self.request("GET", f"{V3}/profile/{quote(self.alice)}/displayname", token=self.token_b,
                               site=self.site_b)
        self.assertEqual(r.json, {"displayname": "Alice A"})
        r = await self.request("GET", f"{V3}/profile/{quote(self.alice)}/avatar_url", token=self.token_b,
                               site=self.site_b)
        self.assert_error(r, 404, "M_NOT_FOUND")
        r = await self.request("GET", f"{V3}/profile/{quote('@nobody:' + NAME_A)}", token=self.token_b,
                               site=self.site_b)
        self.assert_error(r, 404, "M_NOT_FOUND")
        self.link_b.down.add(NAME_A)
        r = await self.request("GET", f"{V3}/profile/{quote('@other:' + NAME_A)}", token=self.token_b,
                               site=self.site_b)
        self.assertEqual(r.code, 502, r.json)
        # Kept a few minutes: still answered while A is unreachable.
        r = await self.request("GET", f"{V3}/profile/{quote(self.alice)}", token=self.token_b, site=self.site_b)
        self.assertEqual(r.json["displayname"], "Alice A")
