"""Invites across servers (spec: server-server "Inviting to a room"): a user of A invites a user of
B, who sees the invite with the room's stripped state, accepts it (joining through A) or rejects it
(make_leave/send_leave through A, or only locally when A is down); what an invite request must pass."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from homeserver.events.hashing import event_from_pdu
from homeserver.federation.client import FederationError
from tests.federation.two_servers import NAME_A, NAME_B, TwoServerTestCase

V3 = "/_matrix/client/v3"
F = "/_matrix/federation"


class InviteTest(TwoServerTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice, self.token_a = await self.register_on(self.site, "alice")
        self.bob, self.token_b = await self.register_on(self.site_b, "bob")

    async def room(self, **body: Any) -> str:
        r = await self.post(f"{V3}/createRoom", {"preset": "private_chat", "name": "Secret", **body},
                            token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        return r.json["room_id"]

    async def invite(self, room_id: str, user_id: str):
        return await self.post(f"{V3}/rooms/{quote(room_id)}/invite", {"user_id": user_id}, token=self.token_a)

    async def sync_b(self, since: str | None = None) -> dict:
        r = await self.request("GET", f"{V3}/sync" + (f"?since={since}" if since else ""), token=self.token_b,
                               site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def membership(self, hs: Any, room_id: str, user_id: str) -> str | None:
        current = await hs.events_store.get_membership(room_id, user_id)
        return current[0] if current else None

    async def test_invite_shows_with_stripped_state_and_accepting_joins(self) -> None:
        room_id = await self.room()
        first = await self.sync_b()
        r = await self.invite(room_id, self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.membership(self.hs, room_id, self.bob), "invite")
        sync = await self.sync_b(first["next_batch"])
        invite_state = sync["rooms"]["invite"][room_id]["invite_state"]["events"]
        by_type = {(e["type"], e["state_key"]): e for e in invite_state}
        self.assertEqual(by_type[("m.room.name", "")]["content"], {"name": "Secret"})
        self.assertEqual(by_type[("m.room.member", self.bob)]["content"]["membership"], "invite")
        self.assertEqual(by_type[("m.room.member", self.bob)]["sender"], self.alice)

        r = await self.request("POST", f"{V3}/join/{quote(room_id)}", {}, token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.membership(self.hs, room_id, self.bob), "join")
        self.assertEqual(await self.membership(self.hs_b, room_id, self.bob), "join")
        sync = await self.sync_b(sync["next_batch"])
        self.assertIn(room_id, sync["rooms"]["join"])
        self.assertNotIn(room_id, sync["rooms"].get("invite", {}))

    async def test_create_room_invites_other_servers_users_through_their_server(self) -> None:
        # createRoom's `invite` list goes the same way as POST /invite: B must countersign, and
        # Bob sees the invite (a bare /send of the invite event would be dropped by B).
        first = await self.sync_b()
        room_id = await self.room(invite=[self.bob])
        self.assertEqual(await self.membership(self.hs, room_id, self.bob), "invite")
        self.assertEqual(await self.membership(self.hs_b, room_id, self.bob), "invite")
        sync = await self.sync_b(first["next_batch"])
        self.assertIn(room_id, sync["rooms"]["invite"])
        r = await self.request("POST", f"{V3}/join/{quote(room_id)}", {}, token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.membership(self.hs, room_id, self.bob), "join")

    async def test_create_room_with_an_invitee_whose_server_refuses_fails(self) -> None:
        r = await self.post(f"{V3}/createRoom", {"preset": "private_chat", "invite": [f"@nobody:{NAME_B}"]},
                            token=self.token_a)
        self.assertEqual((r.code, r.json.get("errcode")), (404, "M_NOT_FOUND"), r.json)

    async def test_invite_room_state_is_full_events_with_the_create_event(self) -> None:
        # Spec 1.16 (invite v2): `invite_room_state` MUST hold m.room.create and every entry MUST
        # be an event in the room's format (Synapse checks them as PDUs).
        sent: list[dict] = []
        put_json = self.link_a.put_json

        async def recording(destination: str, path: str, body: Any, query: dict | None = None) -> Any:
            if "/invite/" in path:
                sent.append(body)
            return await put_json(destination, path, body, query)

        self.link_a.put_json = recording
        room_id = await self.room()
        self.assertEqual((await self.invite(room_id, self.bob)).code, 200)
        self.assertEqual(len(sent), 1)
        state = sent[0]["invite_room_state"]
        types = {e["type"] for e in state}
        self.assertIn("m.room.create", types)
        self.assertIn("m.room.name", types)
        version = await self.hs.events_store.get_room_version(room_id)
        held = await self.hs.events_store.get_current_state_ids(room_id)
        for pdu in state:
            for key in ("auth_events", "prev_events", "hashes", "signatures", "depth", "origin_server_ts"):
                self.assertIn(key, pdu, f"{pdu['type']} lacks {key}")
            event = event_from_pdu(pdu, version)
            self.assertEqual(held[(event.type, event.state_key)], event.event_id)

    async def test_rejecting_goes_through_the_inviting_server(self) -> None:
        room_id = await self.room()
        self.assertEqual((await self.invite(room_id, self.bob)).code, 200)
        first = await self.sync_b()
        self.assertIn(room_id, first["rooms"]["invite"])
        r = await self.request("POST", f"{V3}/rooms/{quote(room_id)}/leave", {}, token=self.token_b,
                               site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.membership(self.hs, room_id, self.bob), "leave")
        self.assertEqual(await self.membership(self.hs_b, room_id, self.bob), "leave")
        sync = await self.sync_b()
        self.assertNotIn(room_id, sync["rooms"].get("invite", {}))

    async def test_rejecting_while_the_inviting_server_is_down_is_kept_here(self) -> None:
        room_id = await self.room()
        self.assertEqual((await self.invite(room_id, self.bob)).code, 200)
        self.link_b.down.add(NAME_A)
        r = await self.request("POST", f"{V3}/rooms/{quote(room_id)}/leave", {}, token=self.token_b,
                               site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(await self.membership(self.hs_b, room_id, self.bob), "leave")
        self.assertEqual(await self.membership(self.hs, room_id, self.bob), "invite")
        self.assertNotIn(room_id, (await self.sync_b())["rooms"].get("invite", {}))

    async def test_refusals_reach_the_inviter(self) -> None:
        room_id = await self.room()
        r = await self.invite(room_id, f"@nobody:{NAME_B}")
        self.assert_error(r, 404, "M_NOT_FOUND")
        self.assertIsNone(await self.membership(self.hs, room_id, f"@nobody:{NAME_B}"))
        self.link_a.down.add(NAME_B)
        r = await self.invite(room_id, self.bob)
        self.assertEqual(r.code, 502, r.json)
        self.assertIsNone(await self.membership(self.hs, room_id, self.bob))

    async def test_a_joined_remote_user_can_be_kicked_and_banned(self) -> None:
        room_id = await self.room(preset="public_chat")
        r = await self.request("POST", f"{V3}/join/{quote(room_id)}?server_name={quote(NAME_A)}", {},
                               token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/ban", {"user_id": self.bob}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)

        async def banned_on_b() -> bool:
            return await self.membership(self.hs_b, room_id, self.bob) == "ban"

        await self.eventually(banned_on_b)

    async def invite_request(self, room_id: str, pdu: dict, version: str = "10", api: str = "v2") -> Any:
        body: Any = {"room_version": version, "event": pdu, "invite_room_state": []} if api == "v2" else pdu
        from homeserver.events.hashing import event_from_pdu
        from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
        event_id = event_from_pdu(pdu, KNOWN_ROOM_VERSIONS.get(version, KNOWN_ROOM_VERSIONS["10"])).event_id
        return await self.link_a.put_json(NAME_B, f"{F}/{api}/invite/{quote(room_id)}/{quote(event_id, safe='')}",
                                          body)

    async def signed_invite(self, room_id: str, **changes: Any) -> dict:
        from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
        from homeserver.events.signing import sign_event
        pdu = {"room_id": room_id, "type": "m.room.member", "sender": self.alice, "state_key": self.bob,
               "content": {"membership": "invite"}, "prev_events": ["$x"], "auth_events": [], "depth": 5,
               "origin_server_ts": 1, **changes}
        return sign_event(pdu, NAME_A, self.hs.signing_key, KNOWN_ROOM_VERSIONS["10"])

    async def test_bad_invite_requests(self) -> None:
        room_id = f"!r:{NAME_A}"
        cases = [
            (await self.signed_invite(room_id), "99", 400, "M_INCOMPATIBLE_ROOM_VERSION"),
            (await self.signed_invite(room_id, sender=f"@mallory:{NAME_B}"), "10", 403, "M_FORBIDDEN"),
            (await self.signed_invite(room_id, state_key=f"@carol:{NAME_A}"), "10", 403, "M_FORBIDDEN"),
            (await self.signed_invite(room_id, state_key=f"@ghost:{NAME_B}"), "10", 404, "M_NOT_FOUND"),
            (await self.signed_invite(room_id, content={"membership": "join"}), "10", 400, "M_INVALID_PARAM"),
        ]
        for pdu, version, code, errcode in cases:
            with self.assertRaises(FederationError) as caught:
                await self.invite_request(room_id, pdu, version)
            self.assertEqual((caught.exception.code, caught.exception.errcode), (code, errcode), pdu)
        forged = await self.signed_invite(room_id)
        forged["content"] = {"membership": "invite", "extra": 1}
        with self.assertRaises(FederationError) as caught:
            await self.invite_request(room_id, forged)
        self.assertEqual(caught.exception.code, 400)
        self.assertIsNone(await self.membership(self.hs_b, room_id, self.bob))
        # A good one through v1 (rooms 1-2): countersigned, and kept for bob.
        from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
        from homeserver.events.signing import sign_event
        pdu = {"room_id": room_id, "type": "m.room.member", "sender": self.alice, "state_key": self.bob,
               "content": {"membership": "invite"}, "prev_events": [], "auth_events": [], "depth": 5,
               "origin_server_ts": 1, "event_id": f"$v1:{NAME_A}", "origin": NAME_A}
        pdu = sign_event(pdu, NAME_A, self.hs.signing_key, KNOWN_ROOM_VERSIONS["1"])
        answer = await self.link_a.put_json(NAME_B, f"{F}/v1/invite/{quote(room_id)}/{quote(pdu['event_id'], safe='')}",
                                            pdu)
        self.assertEqual(answer[0], 200)
        self.assertIn(NAME_B, answer[1]["event"]["signatures"])
        self.assertEqual(await self.membership(self.hs_b, room_id, self.bob), "invite")


class KnockTest(TwoServerTestCase):
    """Knocking on a room of another server (make_knock/send_knock), and the resident's side."""

    async def _set_up(self) -> None:
        await super()._set_up()
        self.alice, self.token_a = await self.register_on(self.site, "alice")
        self.bob, self.token_b = await self.register_on(self.site_b, "bob")

    async def knock_b(self, room_id: str):
        return await self.request("POST", f"{V3}/knock/{quote(room_id)}?server_name={quote(NAME_A)}",
                                  {"reason": "let me in"}, token=self.token_b, site=self.site_b)

    async def test_knock_shows_on_both_sides_and_an_invite_lets_in(self) -> None:
        r = await self.post(f"{V3}/createRoom", {"room_version": "10", "name": "Club",
                                                 "initial_state": [{"type": "m.room.join_rules", "state_key": "",
                                                                    "content": {"join_rule": "knock"}}]},
                            token=self.token_a)
        room_id = r.json["room_id"]
        r = await self.knock_b(room_id)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json, {"room_id": room_id})
        current = await self.hs.events_store.get_membership(room_id, self.bob)
        self.assertEqual(current[0], "knock")
        sync = await self.request("GET", f"{V3}/sync", token=self.token_b, site=self.site_b)
        knock_state = sync.json["rooms"]["knock"][room_id]["knock_state"]["events"]
        by_type = {(e["type"], e["state_key"]): e for e in knock_state}
        self.assertEqual(by_type[("m.room.name", "")]["content"], {"name": "Club"})
        self.assertEqual(by_type[("m.room.member", self.bob)]["content"]["membership"], "knock")
        # Alice lets bob in with an invite; bob joins.
        r = await self.post(f"{V3}/rooms/{quote(room_id)}/invite", {"user_id": self.bob}, token=self.token_a)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("POST", f"{V3}/join/{quote(room_id)}", {}, token=self.token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual((await self.hs.events_store.get_membership(room_id, self.bob))[0], "join")

    async def test_refusals(self) -> None:
        r = await self.post(f"{V3}/createRoom", {"preset": "private_chat"}, token=self.token_a)
        self.assert_error(await self.knock_b(r.json["room_id"]), 403, "M_FORBIDDEN")
        r = await self.post(f"{V3}/createRoom", {"room_version": "6", "preset": "private_chat"}, token=self.token_a)
        self.assert_error(await self.knock_b(r.json["room_id"]), 400, "M_INCOMPATIBLE_ROOM_VERSION")
        r = await self.request("POST", f"{V3}/knock/{quote('!nothing:' + NAME_B)}", {}, token=self.token_b,
                               site=self.site_b)
        self.assert_error(r, 404, "M_NOT_FOUND")
