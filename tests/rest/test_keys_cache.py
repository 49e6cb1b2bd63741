"""/keys/query answers from a cache of decoded device keys: each test queries first (filling the
cache), changes something, and queries again: a stale cache would show the old state."""

from __future__ import annotations

from tests.rest.e2e_support import CrossSigning, FakeDevice
from tests.rest.test_cross_signing import SIGNATURES_UPLOAD, CrossSigningTestCase
from tests.rest.test_rooms import V3

ALICE = "@alice:test"


class KeysQueryCacheTest(CrossSigningTestCase):
    async def test_new_identity_keys_replace_cached_ones(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        await self.upload(token, {"device_keys": device.device_keys()})
        bob, _ = await self.account("bob")
        first = await self.query(bob["access_token"], {ALICE: []})
        self.assertEqual(first["device_keys"][ALICE][device.device_id]["keys"], device.device_keys()["keys"])
        other = FakeDevice(ALICE, device.device_id)
        await self.upload(token, {"device_keys": other.device_keys()})
        for wanted in ([], [device.device_id]):
            again = await self.query(bob["access_token"], {ALICE: wanted})
            self.assertEqual(again["device_keys"][ALICE][device.device_id]["keys"], other.device_keys()["keys"])

    async def test_new_device_keys_appear_and_deleted_devices_go(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        await self.upload(token, {"device_keys": device.device_keys()})
        self.assertEqual(set((await self.query(token, {ALICE: []}))["device_keys"][ALICE]), {device.device_id})
        second = await self.login("alice")
        second_device = FakeDevice(ALICE, second["device_id"])
        await self.upload(second["access_token"], {"device_keys": second_device.device_keys()})
        self.assertEqual(set((await self.query(token, {ALICE: []}))["device_keys"][ALICE]),
                         {device.device_id, second_device.device_id})
        # Asked for by ID while the user's devices are cached.
        one = await self.query(token, {ALICE: [second_device.device_id]})
        self.assertEqual(set(one["device_keys"][ALICE]), {second_device.device_id})
        r = await self.request("DELETE", f"{V3}/devices/{second_device.device_id}", {}, token=token)
        self.assertEqual(r.code, 401, r.json)
        r = await self.request("DELETE", f"{V3}/devices/{second_device.device_id}", {"auth": {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
            "password": "password", "session": r.json["session"]}}, token=token)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(set((await self.query(token, {ALICE: []}))["device_keys"][ALICE]), {device.device_id})
        gone = await self.query(token, {ALICE: [second_device.device_id]})
        self.assertEqual(gone["device_keys"][ALICE], {})

    async def test_rename_shows(self) -> None:
        alice, device = await self.account("alice")
        token = alice["access_token"]
        await self.upload(token, {"device_keys": device.device_keys()})
        self.assertEqual((await self.query(token, {ALICE: []}))["device_keys"][ALICE][device.device_id]["unsigned"],
                         {})
        for name in ("Phone", "Laptop"):
            r = await self.request("PUT", f"{V3}/devices/{device.device_id}", {"display_name": name}, token=token)
            self.assertEqual(r.code, 200, r.json)
            result = await self.query(token, {ALICE: []})
            self.assertEqual(result["device_keys"][ALICE][device.device_id]["unsigned"],
                             {"device_display_name": name})

    async def test_signatures_come_and_go_and_never_stick_to_the_cached_keys(self) -> None:
        alice, device, cross = await self.with_keys("alice")
        own = [f"ed25519:{device.device_id}"]

        async def device_signers() -> list[str]:
            result = await self.query(alice, {ALICE: []})
            return sorted(result["device_keys"][ALICE][device.device_id]["signatures"][ALICE])

        self.assertEqual(await device_signers(), own)
        signed = cross.self_signing.sign(ALICE, device.device_keys())
        r = await self.post(SIGNATURES_UPLOAD, {ALICE: {device.device_id: signed}}, token=alice)
        self.assertEqual(r.code, 200, r.json)
        with_cross = sorted(own + [f"ed25519:{cross.self_signing.public}"])
        self.assertEqual(await device_signers(), with_cross)
        self.assertEqual(await device_signers(), with_cross)  # twice: merging twice changes nothing
        # A new self-signing key drops the old one's signatures: had merging them into the
        # response changed the cached keys, the old signature would still show.
        new = CrossSigning(ALICE)
        challenge = await self.upload_signing_keys(alice, new.upload_body(), code=401)
        await self.upload_signing_keys(alice, {**new.upload_body(), "auth": {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
            "password": "password", "session": challenge["session"]}})
        self.assertEqual(await device_signers(), own)
