"""Every stable room version (1-12) can be created and used: messages, state changes, membership,
redaction; /capabilities advertises them (issue 12 item 14)."""

from urllib.parse import quote

from signedjson.key import get_verify_key

from homeserver.events.auth import check_auth, check_auth_event_list
from homeserver.events.hashing import compute_reference_hash, encode_base64, event_from_pdu
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, EventFormat
from homeserver.events.signing import check_signed_by
from homeserver.events.validation import validate_pdu
from tests.rest.test_rooms import V3, RoomsTestCase

VERSIONS = [str(n) for n in range(1, 13)]


class RoomVersionsTest(RoomsTestCase):
    async def test_capabilities_advertise_every_stable_version(self) -> None:
        await self.users()
        r = await self.get(f"{V3}/capabilities", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["capabilities"]["m.room_versions"]["available"], {v: "stable" for v in VERSIONS})
        self.assertEqual(sorted(KNOWN_ROOM_VERSIONS, key=int), VERSIONS)

    async def test_each_version_creatable_and_usable(self) -> None:
        await self.users()
        for version in VERSIONS:
            room_id = await self.create(self.alice, room_version=version, preset="public_chat", name="Room",
                                        topic="About")
            room = quote(room_id)
            r = await self.get(f"{V3}/rooms/{room}/state/m.room.create", token=self.alice)
            self.assertEqual(r.json["room_version"], version)
            if int(version) <= 10:
                self.assertEqual(r.json["creator"], "@alice:test", version)
            else:
                self.assertNotIn("creator", r.json, version)
            r = await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
            self.assertEqual(r.code, 200, (version, r.json))
            sent = await self.send(self.bob, room_id, "hello", f"t{version}")
            sent_q = quote(sent, safe="")  # v3 event IDs may hold '/'
            r = await self.request("PUT", f"{V3}/rooms/{room}/state/m.room.topic", {"topic": f"v{version}"},
                                   token=self.alice)
            self.assertEqual(r.code, 200, (version, r.json))
            # Bob (power 0) may not change the name; alice may redact his message.
            r = await self.request("PUT", f"{V3}/rooms/{room}/state/m.room.name", {"name": "x"}, token=self.bob)
            self.assert_error(r, 403, "M_FORBIDDEN")
            r = await self.request("PUT", f"{V3}/rooms/{room}/redact/{sent_q}/r{version}",
                                   {"reason": "spam"}, token=self.alice)
            self.assertEqual(r.code, 200, (version, r.json))
            redaction = r.json["event_id"]
            redaction_q = quote(redaction, safe="")
            r = await self.get(f"{V3}/rooms/{room}/event/{sent_q}", token=self.bob)
            self.assertEqual(r.code, 200, r.json)
            self.assertEqual(r.json["content"], {}, version)
            self.assertEqual(r.json["unsigned"]["redacted_because"]["event_id"], redaction)
            r = await self.get(f"{V3}/rooms/{room}/event/{redaction_q}", token=self.bob)
            self.assertEqual(r.json["redacts"], sent)  # clients read it top-level in every version
            r = await self.get(f"{V3}/rooms/{room}/state/m.room.topic", token=self.bob)
            self.assertEqual(r.json, {"topic": f"v{version}"})
            r = await self.post(f"{V3}/rooms/{room}/kick", {"user_id": "@bob:test"}, token=self.alice)
            self.assertEqual(r.code, 200, (version, r.json))
            r = await self.get(f"{V3}/rooms/{room}/messages?dir=b&limit=50", token=self.alice)
            types = [e["type"] for e in r.json["chunk"]]
            self.assertEqual(types[-1], "m.room.create", version)
            self.assertEqual(types[0], "m.room.member", version)
            # The room's events are well formed for its version: the V1 format names events
            # on this server and references them with their hashes.
            create_id = r.json["chunk"][-1]["event_id"]
            if int(version) <= 2:
                self.assertTrue(create_id.endswith(":test"), create_id)
            else:
                self.assertNotIn(":", create_id)
            await self.check_events_as_a_remote_server_would([e["event_id"] for e in r.json["chunk"]], version)
        r = await self.get(f"{V3}/joined_rooms", token=self.alice)
        self.assertEqual(len(r.json["joined_rooms"]), len(VERSIONS))

    async def check_events_as_a_remote_server_would(self, event_ids: list[str], version: str) -> None:
        """Each event passes the format checks of its room version, is signed by us, has the ID
        its version gives it, references its prev/auth events in the version's shape and passes
        the auth rules against its own auth events."""
        rv = KNOWN_ROOM_VERSIONS[version]
        store = self.hs.events_store
        events = await store.get_events(event_ids)
        verify_key = get_verify_key(self.hs.signing_key)
        keys = {f"{verify_key.alg}:{verify_key.version}": verify_key}
        for event_id in event_ids:
            event = events[event_id]
            pdu = dict(event.pdu)
            validate_pdu(pdu, rv)
            check_signed_by(pdu, "test", keys, rv)
            self.assertEqual(event_from_pdu(pdu, rv).event_id, event_id)
            for key in ("prev_events", "auth_events"):
                for ref in pdu[key]:
                    if rv.event_format is EventFormat.V1:
                        ref_id, hashes = ref
                        referenced = await store.get_event(ref_id)
                        self.assertEqual(hashes, {"sha256": encode_base64(
                            compute_reference_hash(referenced.pdu, rv))})
                    else:
                        self.assertIsInstance(ref, str)
            auth = await store.get_events(event.auth_event_ids)
            auth_events = check_auth_event_list(event, auth.values()) if event.type != "m.room.create" else {}
            if rv.room_id_from_create_event and event.type != "m.room.create":
                auth_events[("m.room.create", "")] = events[event_ids[-1]]
            check_auth(event, auth_events)

    async def test_upgrades_between_old_and_new_versions(self) -> None:
        await self.users()
        room_id = await self.create(self.alice, room_version="1", preset="public_chat", name="Old")
        await self.send(self.alice, room_id, "in v1", "t1")
        for version in ("5", "12", "2", "11"):
            r = await self.post(f"{V3}/rooms/{quote(room_id)}/upgrade", {"new_version": version}, token=self.alice)
            self.assertEqual(r.code, 200, (version, r.json))
            room_id = r.json["replacement_room"]
            r = await self.get(f"{V3}/rooms/{quote(room_id)}/state/m.room.name", token=self.alice)
            self.assertEqual(r.json, {"name": "Old"})
            await self.send(self.alice, room_id, f"in v{version}", f"t{version}")
            r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic", {"topic": version},
                                   token=self.alice)
            self.assertEqual(r.code, 200, (version, r.json))
