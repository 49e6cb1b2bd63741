"""Spec-conformance details real E2EE clients rely on: the legacy /keys/upload/{deviceId} path,
MSC2732's unstable fallback-key names, new identity keys for a re-used device ID, bundled edits
of encrypted events and threads off encrypted replies."""

from __future__ import annotations

from urllib.parse import quote

from tests.rest.e2e_support import CrossSigning, E2ETestCase, FakeDevice
from tests.rest.test_rooms import V3, RoomsTestCase

R0 = "/_matrix/client/r0"
UNSTABLE_FALLBACK_KEYS = "org.matrix.msc2732.fallback_keys"
UNSTABLE_UNUSED_TYPES = "org.matrix.msc2732.device_unused_fallback_key_types"
MEGOLM = "m.megolm.v1.aes-sha2"


class LegacyUploadPathTest(E2ETestCase):
    async def test_upload_with_the_device_id_in_the_path(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        r = await self.post(f"{R0}/keys/upload/{device.device_id}",
                            {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(2)},
                            token=token)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["one_time_key_counts"], {"signed_curve25519": 2})
        bob, _ = await self.account("bob")
        found = await self.query(bob["access_token"], {alice["user_id"]: []})
        self.assertEqual(list(found["device_keys"][alice["user_id"]]), [device.device_id])

    async def test_another_devices_id_in_the_path_is_refused(self) -> None:
        alice, device = await self.account("alice")
        await self.assert_rejected_without_change(
            "POST", f"{V3}/keys/upload/OTHERDEVICE",
            {"device_keys": device.device_keys(), "one_time_keys": device.one_time_keys(1)},
            400, "M_INVALID_PARAM", token=alice["access_token"])


class UnstableFallbackKeysTest(E2ETestCase):
    async def test_unstable_upload_name_is_stored_and_claimable(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        fallback = device.fallback_key("F1")
        await self.upload(token, {"device_keys": device.device_keys(), UNSTABLE_FALLBACK_KEYS: fallback})
        sync = await self.sync(token)
        self.assertEqual(sync["device_unused_fallback_key_types"], ["signed_curve25519"])
        self.assertEqual(sync[UNSTABLE_UNUSED_TYPES], ["signed_curve25519"])
        bob, _ = await self.account("bob")
        claimed = await self.claim(bob["access_token"], {alice["user_id"]: {device.device_id: "signed_curve25519"}})
        self.assertEqual(claimed["one_time_keys"][alice["user_id"]][device.device_id], fallback)
        # Used now: both names say so.
        again = await self.sync(token, sync["next_batch"])
        self.assertEqual(again["device_unused_fallback_key_types"], [])
        self.assertEqual(again[UNSTABLE_UNUSED_TYPES], [])

    async def test_stable_name_wins_when_both_are_sent(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        stable = device.fallback_key("STABLE")
        await self.upload(token, {"fallback_keys": stable, UNSTABLE_FALLBACK_KEYS: device.fallback_key("OLD")})
        bob, _ = await self.account("bob")
        claimed = await self.claim(bob["access_token"], {alice["user_id"]: {device.device_id: "signed_curve25519"}})
        self.assertEqual(claimed["one_time_keys"][alice["user_id"]][device.device_id], stable)

    async def test_bad_unstable_fallback_keys_change_nothing(self) -> None:
        alice, _ = await self.account("alice")
        for bad in ([], {"signed_curve25519:F": "not an object"}):
            errcode = "M_BAD_JSON" if bad == [] else "M_INVALID_PARAM"
            await self.assert_rejected_without_change("POST", f"{V3}/keys/upload", {UNSTABLE_FALLBACK_KEYS: bad},
                                                      400, errcode, token=alice["access_token"])


class NewIdentityForKnownDeviceTest(E2ETestCase):
    async def test_signatures_on_the_old_identity_are_dropped(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        await self.upload(token, {"device_keys": device.device_keys()})
        cross = CrossSigning(alice["user_id"])
        r = await self.post(f"{V3}/keys/device_signing/upload", cross.upload_body(), token=token)
        self.assertEqual(r.code, 200, r.json)
        signed = cross.self_signing.sign(alice["user_id"], device.device_keys())
        r = await self.post(f"{V3}/keys/signatures/upload", {alice["user_id"]: {device.device_id: signed}},
                            token=token)
        self.assertEqual(r.json, {"failures": {}})
        bob, _ = await self.account("bob")
        # A re-login with this device ID and a fresh crypto store uploads new identity keys.
        fresh = FakeDevice(alice["user_id"], device.device_id)
        await self.upload(token, {"device_keys": fresh.device_keys()})
        keys = (await self.query(bob["access_token"], {alice["user_id"]: []}))["device_keys"][alice["user_id"]]
        self.assertEqual(keys[device.device_id]["keys"], fresh.device_keys()["keys"])
        # The self-signing signature was over the old keys: it would not verify any more.
        self.assertEqual(list(keys[device.device_id]["signatures"][alice["user_id"]]),
                         [f"ed25519:{device.device_id}"])


class EncryptedRelationsTest(RoomsTestCase):
    async def setup_room(self) -> None:
        await self.users()
        self.room_id = await self.create(self.alice, preset="public_chat")
        self.room = quote(self.room_id)
        await self.post(f"{V3}/rooms/{self.room}/join", {}, token=self.bob)
        self.txn = 0

    async def put(self, token: str, event_type: str, content: dict) -> str:
        self.txn += 1
        r = await self.request("PUT", f"{V3}/rooms/{self.room}/send/{event_type}/x{self.txn}", content, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json["event_id"]

    async def event(self, event_id: str) -> dict:
        r = await self.get(f"{V3}/rooms/{self.room}/event/{quote(event_id)}", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    def encrypted(self, **relates: str) -> dict:
        content = {"algorithm": MEGOLM, "ciphertext": "opaque", "sender_key": "k", "session_id": "s",
                   "device_id": "D"}
        if relates:
            content["m.relates_to"] = relates
        return content

    async def test_encrypted_edit_is_bundled(self) -> None:
        await self.setup_room()
        root = await self.put(self.alice, "m.room.encrypted", self.encrypted())
        self.advance(1)
        # m.new_content is inside the ciphertext: the server cannot (and must not) require it.
        edit = await self.put(self.alice, "m.room.encrypted", self.encrypted(rel_type="m.replace", event_id=root))
        self.advance(1)
        await self.put(self.bob, "m.room.encrypted", self.encrypted(rel_type="m.replace", event_id=root))
        ev = await self.event(root)
        self.assertEqual(ev["unsigned"]["m.relations"]["m.replace"]["event_id"], edit)
        r = await self.get(f"/_matrix/client/v1/rooms/{self.room}/relations/{quote(root)}/m.replace/m.room.encrypted",
                           token=self.bob)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(len(r.json["chunk"]), 2)

    async def test_cleartext_edit_still_needs_new_content(self) -> None:
        await self.setup_room()
        root = await self.put(self.alice, "m.room.message", {"msgtype": "m.text", "body": "hello"})
        await self.put(self.alice, "m.room.message", {"msgtype": "m.text", "body": "* no new content",
                                                      "m.relates_to": {"rel_type": "m.replace", "event_id": root}})
        ev = await self.event(root)
        self.assertNotIn("m.replace", ev.get("unsigned", {}).get("m.relations", {}))

    async def test_thread_off_an_encrypted_reply(self) -> None:
        await self.setup_room()
        first = await self.put(self.alice, "m.room.encrypted", self.encrypted())
        # A rich reply: its m.in_reply_to is in cleartext, but it is no relation (no rel_type).
        reply = await self.put(self.bob, "m.room.encrypted",
                               dict(self.encrypted(), **{"m.relates_to": {"m.in_reply_to": {"event_id": first}}}))
        await self.put(self.alice, "m.room.encrypted", self.encrypted(rel_type="m.thread", event_id=reply))
        self.assertEqual((await self.event(reply))["unsigned"]["m.relations"]["m.thread"]["count"], 1)
        # An edit has a relation: no thread off it.
        edit = await self.put(self.alice, "m.room.encrypted", self.encrypted(rel_type="m.replace", event_id=first))
        await self.assert_rejected_without_change(
            "PUT", f"{V3}/rooms/{self.room}/send/m.room.encrypted/bad",
            self.encrypted(rel_type="m.thread", event_id=edit), 400, "M_UNKNOWN", token=self.bob)


class LazyMembersCallTest(RoomsTestCase):
    """matrix-js-sdk loads an encrypted room's members (to share keys with) with this exact call."""

    async def test_members_at_sync_token_without_leaves(self) -> None:
        await self.users()
        room = quote(await self.create(self.alice, preset="public_chat"))
        await self.post(f"{V3}/rooms/{room}/join", {}, token=self.bob)
        while_joined = (await self.get(f"{V3}/sync", token=self.alice)).json["next_batch"]
        await self.post(f"{V3}/rooms/{room}/leave", {}, token=self.bob)
        after_leaving = (await self.get(f"{V3}/sync", token=self.alice)).json["next_batch"]
        for at, expected in ((while_joined, ["@alice:test", "@bob:test"]), (after_leaving, ["@alice:test"])):
            r = await self.get(f"{V3}/rooms/{room}/members?at={at}&not_membership=leave", token=self.alice)
            self.assertEqual(r.code, 200, r.json)
            self.assertEqual([e["state_key"] for e in r.json["chunk"]], expected)
        r = await self.get(f"{V3}/rooms/{room}/members?at={after_leaving}&not_membership=gone", token=self.alice)
        self.assert_error(r, 400, "M_INVALID_PARAM")
