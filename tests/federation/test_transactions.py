"""Incoming transactions: PUT /_matrix/federation/v1/send/{txnId} (spec: server-server
"Transactions", "Checks performed on receipt of a PDU", "Retrieving events", "Soft failure")."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from homeserver.events.hashing import event_from_pdu
from tests.federation.support import FakeRemote
from tests.server import HomeserverTestCase

F = "/_matrix/federation/v1"
V3 = "/_matrix/client/v3"


class IncomingTransactionTest(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.remote = FakeRemote(self)
        self.bob = self.remote.user("bob")
        self.token = (await self.register("alice"))["access_token"]
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=self.token)
        self.room_id = r.json["room_id"]
        self.version = await self.hs.events_store.get_room_version(self.room_id)
        await self.remote.send_event(self.room_id, "m.room.member", {"membership": "join"}, self.bob, self.bob)
        self.txn = 0

    def eid(self, pdu: dict[str, Any]) -> str:
        return event_from_pdu(pdu, self.version).event_id

    async def send(self, pdus: list[Any], txn_id: str | None = None, **extra: Any):
        if txn_id is None:
            self.txn += 1
            txn_id = f"t{self.txn}"
        body = {"origin": self.remote.name, "origin_server_ts": self.hs.clock.time_msec(), "pdus": pdus, **extra}
        return await self.remote.request("PUT", f"{F}/send/{txn_id}", body)

    async def message(self, body: str, **kwargs: Any) -> dict[str, Any]:
        return await self.remote.build_event(self.room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                             self.bob, **kwargs)

    async def timeline_ids(self) -> list[str]:
        r = await self.get(f"{V3}/rooms/{quote(self.room_id)}/messages?dir=b&limit=50", token=self.token)
        self.assertEqual(r.code, 200, r.json)
        return [e["event_id"] for e in r.json["chunk"]]

    async def test_a_message_reaches_the_room(self) -> None:
        pdu = await self.message("hello")
        r = await self.send([pdu])
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json, {"pdus": {self.eid(pdu): {}}})
        self.assertEqual((await self.timeline_ids())[0], self.eid(pdu))
        self.assertEqual(await self.hs.events_store.get_forward_extremity_ids(self.room_id), [self.eid(pdu)])

    async def test_a_retried_transaction_gets_the_same_answer_and_changes_nothing(self) -> None:
        pdu = await self.message("once")
        first = await self.send([pdu], txn_id="same")
        before = await self.snapshot()
        again = await self.send([pdu], txn_id="same")
        self.assertEqual((again.code, again.json), (first.code, first.json))
        other = await self.send([pdu])  # the same event in another transaction: already here
        self.assertEqual(other.json, {"pdus": {self.eid(pdu): {}}})
        self.assertEqual(await self.snapshot(), before)
        self.assertEqual((await self.timeline_ids()).count(self.eid(pdu)), 1)

    async def test_state_from_the_remote_server_changes_current_state(self) -> None:
        pdu = await self.remote.build_event(self.room_id, "m.room.member", {"membership": "join", "displayname": "B"},
                                            self.bob, self.bob)
        r = await self.send([pdu])
        self.assertEqual(r.json, {"pdus": {self.eid(pdu): {}}})
        state = await self.hs.events_store.get_current_state_ids(self.room_id)
        self.assertEqual(state[("m.room.member", self.bob)], self.eid(pdu))

    async def test_an_event_failing_auth_is_rejected_and_kept_out_of_the_room(self) -> None:
        carol = self.remote.user("carol")  # never joined
        pdu = await self.remote.build_event(self.room_id, "m.room.message", {"msgtype": "m.text", "body": "x"}, carol)
        extremities = await self.hs.events_store.get_forward_extremity_ids(self.room_id)
        r = await self.send([pdu])
        self.assertEqual(r.code, 200)
        self.assertIn("error", r.json["pdus"][self.eid(pdu)])
        self.assertNotIn(self.eid(pdu), await self.timeline_ids())
        self.assertEqual(await self.hs.events_store.get_events([self.eid(pdu)]), {})
        self.assertEqual(await self.hs.events_store.get_seen_event_ids([self.eid(pdu)]), {self.eid(pdu)})
        self.assertEqual(await self.hs.events_store.get_forward_extremity_ids(self.room_id), extremities)

    async def test_a_rejected_state_event_does_not_become_state(self) -> None:
        pdu = await self.remote.build_event(self.room_id, "m.room.name", {"name": "taken over"}, self.bob, "")
        r = await self.send([pdu])  # bob has power 0: not allowed to name the room
        self.assertIn("error", r.json["pdus"][self.eid(pdu)])
        state = await self.hs.events_store.get_current_state_ids(self.room_id)
        self.assertNotIn(("m.room.name", ""), state)
        # A later event of bob's after the rejected one: its state before holds no name either.
        after = await self.message("after", prev_events=[self.eid(pdu)], depth=pdu["depth"] + 1)
        r = await self.send([after])
        self.assertEqual(r.json["pdus"][self.eid(after)], {})
        state = await self.hs.events_store.get_current_state_ids(self.room_id)
        self.assertNotIn(("m.room.name", ""), state)

    async def test_an_event_passing_only_the_state_before_it_is_soft_failed(self) -> None:
        # bob writes from a point before alice banned him: allowed then, not now.
        state_then = dict(await self.hs.events_store.get_current_state_ids(self.room_id))
        extremities_then = await self.hs.events_store.get_forward_extremities(self.room_id)
        r = await self.post(f"{V3}/rooms/{quote(self.room_id)}/ban", {"user_id": self.bob}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        extremities = await self.hs.events_store.get_forward_extremity_ids(self.room_id)
        pdu = await self.message("sneaky", prev_events=[e for e, _ in extremities_then],
                                 depth=max(d for _, d in extremities_then) + 1, state=state_then)
        r = await self.send([pdu])
        self.assertEqual(r.json, {"pdus": {self.eid(pdu): {}}})  # soft failure is not an error
        self.assertNotIn(self.eid(pdu), await self.timeline_ids())
        self.assertEqual(await self.hs.events_store.get_forward_extremity_ids(self.room_id), extremities)
        sync = await self.get(f"{V3}/sync", token=self.token)
        timeline = sync.json["rooms"]["join"][self.room_id]["timeline"]["events"]
        self.assertNotIn(self.eid(pdu), [e["event_id"] for e in timeline])

    async def test_a_gap_is_filled_from_the_sending_server(self) -> None:
        first = await self.message("first")
        second = await self.message("second", prev_events=[self.eid(first)], depth=first["depth"] + 1)
        r = await self.send([second])
        self.assertEqual(r.json, {"pdus": {self.eid(second): {}}})
        self.assertEqual((await self.timeline_ids())[:2], [self.eid(second), self.eid(first)])
        asked = [body for method, path, body in self.remote.requests if "/get_missing_events/" in path]
        self.assertEqual(asked[0]["latest_events"], [self.eid(second)])

    async def test_a_gap_that_cannot_be_filled_refuses_the_event(self) -> None:
        second = await self.message("orphan", prev_events=["$unknown:remote.test:8448"], depth=99)
        r = await self.send([second])
        self.assertIn("could not be fetched", r.json["pdus"][self.eid(second)]["error"])
        self.assertEqual(await self.hs.events_store.get_seen_event_ids([self.eid(second)]), set())

    async def test_a_pdu_with_a_bad_signature_is_dropped(self) -> None:
        pdu = await self.message("forged")
        pdu["signatures"] = {self.remote.name: {"ed25519:r1": "A" * 86}}
        r = await self.send([pdu])
        self.assertEqual(r.json, {"pdus": {}})
        self.assertEqual(await self.hs.events_store.get_seen_event_ids([self.eid(pdu)]), set())

    async def test_a_tampered_content_is_redacted(self) -> None:
        pdu = await self.message("original")
        pdu["content"] = {"msgtype": "m.text", "body": "tampered"}
        r = await self.send([pdu])
        self.assertEqual(r.json, {"pdus": {self.eid(pdu): {}}})
        stored = (await self.hs.events_store.get_events([self.eid(pdu)]))[self.eid(pdu)]
        self.assertEqual(stored.content, {})

    async def test_pdus_of_unknown_rooms_and_garbage_are_dropped(self) -> None:
        garbage: list[Any] = [1, "x", None, {"room_id": "!nowhere:remote.test:8448", "type": "m.room.message"},
                              {"room_id": self.room_id}]
        r = await self.send(garbage)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json, {"pdus": {}})

    async def test_nobody_of_ours_in_the_room(self) -> None:
        r = await self.post(f"{V3}/rooms/{quote(self.room_id)}/leave", {}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        pdu = await self.message("anyone?")
        r = await self.send([pdu])
        self.assertIn("No user of this server", r.json["pdus"][self.eid(pdu)]["error"])

    async def test_bad_transactions(self) -> None:
        pdu = await self.message("x")
        r = await self.send([pdu] * 51)
        self.assert_error(r, 400, "M_BAD_JSON")
        r = await self.send([], edus=[{}] * 101)
        self.assert_error(r, 400, "M_BAD_JSON")
        r = await self.remote.request("PUT", f"{F}/send/bad", {"pdus": "nope"})
        self.assert_error(r, 400, "M_BAD_JSON")
        r = await self.remote.request("PUT", f"{F}/send/bad", [1, 2])
        self.assert_error(r, 400, "M_BAD_JSON")
        r = await self.request("PUT", f"{F}/send/unsigned", raw_body=b'{"pdus": []}')
        self.assert_error(r, 401, "M_UNAUTHORIZED")
        self.assertNotIn(self.eid(pdu), await self.timeline_ids())

    async def test_a_server_denied_by_the_room_acl_is_refused(self) -> None:
        r = await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/state/m.room.server_acl/",
                               {"allow": ["*"], "deny": ["remote.test"]}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        pdu = await self.message("let me in")
        r = await self.send([pdu])
        self.assertIn("ACL", r.json["pdus"][self.eid(pdu)]["error"])
        self.assertEqual(await self.hs.events_store.get_seen_event_ids([self.eid(pdu)]), set())

    async def test_typing_and_receipts_from_a_server_denied_by_the_room_acl_are_dropped(self) -> None:
        pdu = await self.message("read me")
        await self.send([pdu])
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=self.token)
        open_room = r.json["room_id"]
        await self.remote.send_event(open_room, "m.room.member", {"membership": "join"}, self.bob, self.bob)
        r = await self.request("PUT", f"{V3}/rooms/{quote(self.room_id)}/state/m.room.server_acl/",
                               {"allow": ["*"], "deny": ["remote.test"]}, token=self.token)
        self.assertEqual(r.code, 200, r.json)
        since = (await self.get(f"{V3}/sync", token=self.token)).json["next_batch"]
        receipt = {"m.read": {self.bob: {"event_ids": [self.eid(pdu)], "data": {"ts": 1}}}}
        edus = [{"edu_type": "m.typing", "content": {"room_id": self.room_id, "user_id": self.bob, "typing": True}},
                {"edu_type": "m.receipt", "content": {self.room_id: receipt}}]
        r = await self.send([], edus=edus)
        self.assertEqual(r.code, 200, r.json)
        sync = (await self.get(f"{V3}/sync?since={since}&timeout=0", token=self.token)).json
        self.assertNotIn(self.room_id, sync.get("rooms", {}).get("join", {}))
        # The same server in a room without an ACL: heard.
        edus = [{"edu_type": "m.typing", "content": {"room_id": open_room, "user_id": self.bob, "typing": True}}]
        await self.send([], edus=edus)
        sync = (await self.get(f"{V3}/sync?since={since}&timeout=0", token=self.token)).json
        typing = sync["rooms"]["join"][open_room]["ephemeral"]["events"]
        self.assertEqual([e["content"]["user_ids"] for e in typing if e["type"] == "m.typing"], [[self.bob]])

    async def test_an_event_that_names_itself_is_refused(self) -> None:
        # Rooms 1-2 name events in the event itself: one can list its own ID among its prev_events.
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat", "room_version": "1"}, token=self.token)
        room_id = r.json["room_id"]
        state = await self.hs.events_store.get_current_state_ids(room_id)
        extremities = await self.hs.events_store.get_forward_extremities(room_id)
        event_id = f"$loop:{self.remote.name}"
        pdu = {"room_id": room_id, "type": "m.room.message", "sender": self.bob, "event_id": event_id,
               "content": {"msgtype": "m.text", "body": "loop"}, "origin": self.remote.name,
               "prev_events": [[event_id, {}]] + [[e, {}] for e, _ in extremities],
               "auth_events": [[state[("m.room.create", "")], {}], [state[("m.room.power_levels", "")], {}]],
               "depth": max(d for _, d in extremities) + 1, "origin_server_ts": self.hs.clock.time_msec()}
        from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
        from homeserver.events.signing import sign_event
        pdu = sign_event(pdu, self.remote.name, self.remote.keys.signing_key, KNOWN_ROOM_VERSIONS["1"])
        r = await self.send([pdu])
        self.assertEqual(r.code, 200, r.json)
        self.assertIn("names itself", r.json["pdus"][event_id]["error"])
        self.assertEqual(await self.hs.events_store.get_seen_event_ids([event_id]), set())
