"""EventChecker on events from another server: dropped for bad format or signatures, redacted for
a content hash mismatch, rejected for failing auth against their own auth events or the state
before them, soft-failed against the current state; and our own events through the same checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from signedjson.key import VerifyKey, generate_signing_key, get_verify_key

from homeserver.events.auth import auth_types_for_event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS
from homeserver.events.signing import sign_event
from homeserver.handlers.event_checker import EventChecker, EventCheckError
from tests.server import HomeserverTestCase

REMOTE = "remote.test"
BOB = f"@bob:{REMOTE}"


class TestKeyRing:
    def __init__(self, keys: dict[str, dict[str, VerifyKey]]):
        self._keys = keys

    async def verify_keys(self, server_name: str, key_ids: Iterable[str], at_ms: int | None
                          ) -> Mapping[str, VerifyKey]:
        known = self._keys.get(server_name, {})
        return {k: known[k] for k in key_ids if k in known}


class EventCheckerTest(HomeserverTestCase):
    async def _set_up(self) -> None:
        await super()._set_up()
        self.remote_key = generate_signing_key("r1")
        self.checker = EventChecker(self.hs.events_store, TestKeyRing(
            {REMOTE: {"ed25519:r1": get_verify_key(self.remote_key)}}))
        me = await self.register("alice")
        self.alice_token = me["access_token"]
        r = await self.post("/_matrix/client/v3/createRoom", {"preset": "public_chat"}, token=self.alice_token)
        self.room_id = r.json["room_id"]
        self.version = KNOWN_ROOM_VERSIONS[(await self.hs.events_store.get_room_version(self.room_id)).identifier]

    async def state(self) -> dict[tuple[str, str], str]:
        return dict(await self.hs.events_store.get_current_state_ids(self.room_id))

    async def remote_pdu(self, event_type: str, content: dict[str, Any], state_key: str | None = None,
                         auth_keys: list[tuple[str, str]] | None = None, sender: str = BOB) -> dict[str, Any]:
        state = await self.state()
        extremities = await self.hs.events_store.get_forward_extremities(self.room_id)
        keys = auth_keys if auth_keys is not None else \
            auth_types_for_event(event_type, sender, state_key, content, self.version)
        pdu: dict[str, Any] = {
            "room_id": self.room_id, "type": event_type, "sender": sender, "content": content,
            "prev_events": [e for e, _ in extremities], "depth": max(d for _, d in extremities) + 1,
            "origin_server_ts": 1_700_000_000_000,
            "auth_events": sorted(state[k] for k in keys if k in state),
        }
        if self.version.room_id_from_create_event:
            pdu["auth_events"] = [e for e in pdu["auth_events"] if e != state[("m.room.create", "")]]
        if state_key is not None:
            pdu["state_key"] = state_key
        return sign_event(pdu, REMOTE, self.remote_key, self.version)

    async def test_a_good_join_passes(self) -> None:
        pdu = await self.remote_pdu("m.room.member", {"membership": "join"}, BOB)
        event = await self.checker.check_received(pdu, self.version)
        state = await self.state()
        outcome = await self.checker.check_auth(event, state, state)
        self.assertEqual((outcome.rejected, outcome.soft_failed), (None, False))

    async def test_bad_format_and_signatures_are_dropped(self) -> None:
        pdu = await self.remote_pdu("m.room.member", {"membership": "join"}, BOB)
        unsigned = {k: v for k, v in pdu.items() if k != "signatures"}
        other_key = generate_signing_key("r1")
        forged = sign_event(unsigned, REMOTE, other_key, self.version)
        wrong_server = {**pdu, "signatures": {"elsewhere.test": pdu["signatures"][REMOTE]}}
        for bad in (unsigned, forged, wrong_server, {**pdu, "depth": "1"}, {**pdu, "sender": "bob"}, [pdu]):
            with self.assertRaises(EventCheckError):
                await self.checker.check_received(bad, self.version)

    async def test_content_hash_mismatch_keeps_the_event_redacted(self) -> None:
        await self._join_bob()
        pdu = await self.remote_pdu("m.room.message", {"msgtype": "m.text", "body": "signed"})
        tampered = {**pdu, "content": {"msgtype": "m.text", "body": "changed in transit"}}
        event = await self.checker.check_received(tampered, self.version)
        self.assertEqual(event.content, {})
        self.assertTrue(event.internal["content_hash_mismatch"])
        intact = await self.checker.check_received(pdu, self.version)
        self.assertEqual(intact.content["body"], "signed")

    async def test_message_from_a_non_member_is_rejected(self) -> None:
        pdu = await self.remote_pdu("m.room.message", {"msgtype": "m.text", "body": "hi"})
        event = await self.checker.check_received(pdu, self.version)
        state = await self.state()
        outcome = await self.checker.check_auth(event, state, state)
        self.assertIn("auth events", outcome.rejected)

    async def test_auth_events_the_selection_would_not_pick_are_rejected(self) -> None:
        await self._join_bob()
        pdu = await self.remote_pdu("m.room.message", {"msgtype": "m.text", "body": "hi"},
                                    auth_keys=[("m.room.create", ""), ("m.room.power_levels", ""),
                                               ("m.room.member", BOB), ("m.room.history_visibility", "")])
        event = await self.checker.check_received(pdu, self.version)
        state = await self.state()
        outcome = await self.checker.check_auth(event, state, state)
        self.assertIn("selection algorithm", outcome.rejected)

    async def test_allowed_by_its_auth_events_but_not_by_the_state_before_is_rejected(self) -> None:
        await self._join_bob()
        pdu = await self.remote_pdu("m.room.message", {"msgtype": "m.text", "body": "hi"})
        event = await self.checker.check_received(pdu, self.version)
        state_before = await self.state()
        await self._ban_bob()
        state_after_ban = await self.state()
        # Its auth events (Bob joined) allow it; a state before it in which Bob is banned does not.
        outcome = await self.checker.check_auth(event, state_after_ban, state_after_ban)
        self.assertIn("state before", outcome.rejected)
        # Against the state it was really sent in, it is fine, but the room has moved on: soft-failed.
        outcome = await self.checker.check_auth(event, state_before, state_after_ban)
        self.assertEqual((outcome.rejected, outcome.soft_failed), (None, True))
        # Events of the past (no current state given) are not soft-failed.
        outcome = await self.checker.check_auth(event, state_before, None)
        self.assertEqual((outcome.rejected, outcome.soft_failed), (None, False))

    async def test_unknown_auth_events_reject(self) -> None:
        await self._join_bob()
        pdu = await self.remote_pdu("m.room.message", {"msgtype": "m.text", "body": "hi"})
        pdu = sign_event({**{k: v for k, v in pdu.items() if k not in ("signatures", "hashes")},
                          "auth_events": pdu["auth_events"] + ["$unknown"]}, REMOTE, self.remote_key, self.version)
        event = await self.checker.check_received(pdu, self.version)
        state = await self.state()
        outcome = await self.checker.check_auth(event, state, state)
        self.assertIn("not known", outcome.rejected)

    async def test_local_events_use_the_same_checks(self) -> None:
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{quote(self.room_id)}/state/m.room.topic/",
                               {"topic": "x" * 70_000}, token=self.alice_token)
        self.assert_error(r, 413, "M_TOO_LARGE")
        other = await self.register("carol")
        r = await self.request("PUT", f"/_matrix/client/v3/rooms/{quote(self.room_id)}/send/m.room.message/1",
                               {"msgtype": "m.text", "body": "hi"}, token=other["access_token"])
        self.assert_error(r, 403, "M_FORBIDDEN")

    # -- helpers: change the room through our own path --------------------------------------------

    async def _join_bob(self) -> None:
        pdu = await self.remote_pdu("m.room.member", {"membership": "join"}, BOB)
        await self._persist_remote(pdu)

    async def _ban_bob(self) -> None:
        r = await self.post(f"/_matrix/client/v3/rooms/{quote(self.room_id)}/ban", {"user_id": BOB},
                            token=self.alice_token)
        self.assertEqual(r.code, 200, r.json)

    async def _persist_remote(self, pdu: dict[str, Any]) -> None:
        """Persist a checked remote event as the room's next event (what incoming federation will do)."""
        from homeserver.handlers.persister import EventContext
        event = await self.checker.check_received(pdu, self.version)
        state = await self.state()
        outcome = await self.checker.check_auth(event, state, state)
        self.assertIsNone(outcome.rejected)
        persister = self.hs.event_persister
        async with persister.room_lock.queue(self.room_id):
            await persister.persist(event, EventContext(None, state))
