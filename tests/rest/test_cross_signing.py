"""/keys/device_signing/upload and /keys/signatures/upload, and what /keys/query shows of them."""

from __future__ import annotations

from typing import Any

from tests.rest.e2e_support import CrossSigning, E2ETestCase, SigningKey
from tests.rest.test_rooms import V3

SIGNING_UPLOAD = f"{V3}/keys/device_signing/upload"
SIGNATURES_UPLOAD = f"{V3}/keys/signatures/upload"


class CrossSigningTestCase(E2ETestCase):
    async def upload_signing_keys(self, token: str, body: dict[str, Any], code: int = 200) -> dict[str, Any]:
        r = await self.post(SIGNING_UPLOAD, body, token=token)
        self.assertEqual(r.code, code, r.json)
        return r.json

    async def with_keys(self, name: str) -> tuple[str, Any, CrossSigning]:
        reg, device = await self.account(name)
        token = reg["access_token"]
        await self.upload(token, {"device_keys": device.device_keys()})
        cross = CrossSigning(reg["user_id"])
        await self.upload_signing_keys(token, cross.upload_body())
        return token, device, cross


class SigningKeysUploadTest(CrossSigningTestCase):
    async def test_first_upload_without_auth_and_visibility(self) -> None:
        alice, _, cross = await self.with_keys("alice")
        bob, _ = await self.account("bob")
        theirs = await self.query(bob["access_token"], {"@alice:test": []})
        self.assertEqual(theirs["master_keys"]["@alice:test"], cross.key("master"))
        self.assertEqual(theirs["self_signing_keys"]["@alice:test"], cross.key("self_signing"))
        self.assertEqual(theirs["user_signing_keys"], {})  # only for alice herself
        mine = await self.query(alice, {"@alice:test": []})
        self.assertEqual(mine["user_signing_keys"]["@alice:test"], cross.key("user_signing"))

    async def test_replacing_needs_password_auth_identical_does_not(self) -> None:
        alice, _, cross = await self.with_keys("alice")
        # The same keys again (a retry after a lost response): no auth.
        await self.upload_signing_keys(alice, cross.upload_body())
        new = CrossSigning("@alice:test")
        challenge = await self.upload_signing_keys(alice, new.upload_body(), code=401)
        self.assertEqual(challenge["flows"], [{"stages": ["m.login.password"]}])
        self.assertIn("params", challenge)
        self.assertIsInstance(challenge["session"], str)
        self.assertEqual((await self.query(alice, {"@alice:test": []}))["master_keys"]["@alice:test"],
                         cross.key("master"))
        auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
                "session": challenge["session"]}
        wrong = await self.upload_signing_keys(alice, {**new.upload_body(), "auth": {**auth, "password": "nope"}},
                                               code=401)
        self.assertEqual(wrong["errcode"], "M_FORBIDDEN")
        self.assertEqual((await self.query(alice, {"@alice:test": []}))["master_keys"]["@alice:test"],
                         cross.key("master"))
        await self.upload_signing_keys(alice, {**new.upload_body(), "auth": {**auth, "password": "password"}})
        result = await self.query(alice, {"@alice:test": []})
        self.assertEqual(result["master_keys"]["@alice:test"], new.key("master"))
        self.assertEqual(result["user_signing_keys"]["@alice:test"], new.key("user_signing"))

    async def test_bad_signing_keys_change_nothing(self) -> None:
        reg, _ = await self.account("alice")
        token = reg["access_token"]
        cross = CrossSigning("@alice:test")
        stranger = SigningKey()
        not_by_master = dict(cross.key("self_signing"))
        not_by_master["signatures"] = stranger.sign("@alice:test", {k: v for k, v in not_by_master.items()
                                                                    if k != "signatures"})["signatures"]
        usk = cross.user_signing.public
        wrong_usage = cross.master.sign("@alice:test", {"user_id": "@alice:test", "usage": ["self_signing"],
                                                        "keys": {f"ed25519:{usk}": usk}})
        mismatched_id = {**cross.key("master"), "keys": {"ed25519:other": cross.master.public}}
        cases = [
            ({**cross.upload_body(), "self_signing_key": not_by_master}, 400, "M_INVALID_SIGNATURE"),
            ({"master_key": cross.key("master"), "user_signing_key": wrong_usage}, 400, "M_INVALID_PARAM"),
            ({"master_key": {**cross.key("master"), "user_id": "@bob:test"}}, 400, "M_INVALID_PARAM"),
            ({"master_key": mismatched_id}, 400, "M_INVALID_PARAM"),
            ({"self_signing_key": cross.key("self_signing")}, 400, "M_MISSING_PARAM"),
            ({"master_key": {"user_id": "@alice:test", "usage": ["master"]}}, 400, "M_MISSING_PARAM"),
            ({"master_key": "nope"}, 400, "M_BAD_JSON"),
        ]
        for body, code, errcode in cases:
            await self.assert_rejected_without_change("POST", SIGNING_UPLOAD, body, code, errcode, token=token)
        # A public key that is one of the user's device IDs is refused (403).
        await self.login("alice", device_id="a" * 43)
        key = "a" * 43
        body = {"master_key": {"user_id": "@alice:test", "usage": ["master"], "keys": {f"ed25519:{key}": key}}}
        await self.assert_rejected_without_change("POST", SIGNING_UPLOAD, body, 403, "M_FORBIDDEN", token=token)


class SignaturesUploadTest(CrossSigningTestCase):
    async def test_self_signing_own_device_and_device_signing_master(self) -> None:
        alice, device, cross = await self.with_keys("alice")
        signed_device = cross.self_signing.sign("@alice:test", device.device_keys())
        master = device.sign(cross.key("master"))
        r = await self.post(SIGNATURES_UPLOAD, {"@alice:test": {device.device_id: signed_device,
                                                                cross.master.public: master}}, token=alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["failures"], {})
        bob, _ = await self.account("bob")
        result = await self.query(bob["access_token"], {"@alice:test": []})
        sigs = result["device_keys"]["@alice:test"][device.device_id]["signatures"]["@alice:test"]
        self.assertEqual(set(sigs), {f"ed25519:{device.device_id}", f"ed25519:{cross.self_signing.public}"})
        master_sigs = result["master_keys"]["@alice:test"]["signatures"]["@alice:test"]
        self.assertIn(f"ed25519:{device.device_id}", master_sigs)

    async def test_user_signing_is_only_visible_to_the_signer(self) -> None:
        alice, _, alice_cross = await self.with_keys("alice")
        bob, _, bob_cross = await self.with_keys("bob")
        carol, _ = await self.account("carol")
        signed = alice_cross.user_signing.sign("@alice:test", bob_cross.key("master"))
        r = await self.post(SIGNATURES_UPLOAD, {"@bob:test": {bob_cross.master.public: signed}}, token=alice)
        self.assertEqual(r.json, {"failures": {}})
        seen_by_alice = (await self.query(alice, {"@bob:test": []}))["master_keys"]["@bob:test"]
        self.assertIn(f"ed25519:{alice_cross.user_signing.public}", seen_by_alice["signatures"]["@alice:test"])
        for token in (bob, carol["access_token"]):
            seen = (await self.query(token, {"@bob:test": []}))["master_keys"]["@bob:test"]
            self.assertNotIn("@alice:test", seen.get("signatures", {}))

    async def test_failures_are_reported_per_key_and_nothing_stored(self) -> None:
        alice, device, cross = await self.with_keys("alice")
        bob, _, bob_cross = await self.with_keys("bob")
        stranger = SigningKey()
        forged_device = stranger.sign("@alice:test", device.device_keys())
        forged_device["signatures"]["@alice:test"][f"ed25519:{cross.self_signing.public}"] = \
            forged_device["signatures"]["@alice:test"].pop(f"ed25519:{stranger.public}")
        altered = cross.self_signing.sign("@alice:test", device.device_keys(algorithms=["other"]))
        by_wrong_key = cross.self_signing.sign("@alice:test", bob_cross.key("master"))
        body = {
            "@alice:test": {device.device_id: forged_device, "NOSUCHDEVICE": forged_device, "": {},
                            "altered": altered},
            "@bob:test": {bob_cross.master.public: by_wrong_key, "NOTAKEY": by_wrong_key},
            "@dan:elsewhere.example": {"KEY": {}},
        }
        body["@alice:test"][device.device_id + "x"] = altered
        before = await self.snapshot()
        r = await self.post(SIGNATURES_UPLOAD, body, token=alice)
        self.assertEqual(r.code, 200, r.json)
        failures = r.json["failures"]
        self.assertEqual(failures["@alice:test"][device.device_id]["errcode"], "M_INVALID_SIGNATURE")
        self.assertEqual(failures["@alice:test"]["NOSUCHDEVICE"]["errcode"], "M_NOT_FOUND")
        self.assertEqual(failures["@bob:test"][bob_cross.master.public]["errcode"], "M_INVALID_SIGNATURE")
        self.assertEqual(failures["@bob:test"]["NOTAKEY"]["errcode"], "M_NOT_FOUND")
        self.assertEqual(failures["@dan:elsewhere.example"]["KEY"]["errcode"], "M_NOT_FOUND")
        self.assertEqual(set(failures["@alice:test"]),
                         {device.device_id, "NOSUCHDEVICE", "", "altered", device.device_id + "x"})
        for user in failures.values():
            for failure in user.values():
                self.assertIsInstance(failure["error"], str)
        self.assertEqual(await self.snapshot(), before)

    async def test_object_must_match_stored_key(self) -> None:
        alice, device, cross = await self.with_keys("alice")
        altered = cross.self_signing.sign("@alice:test", device.device_keys(algorithms=["other"]))
        r = await self.post(SIGNATURES_UPLOAD, {"@alice:test": {device.device_id: altered}}, token=alice)
        self.assertEqual(r.json["failures"]["@alice:test"][device.device_id]["errcode"], "M_INVALID_PARAM")

    async def test_no_self_signing_key_yet(self) -> None:
        reg, device = await self.account("alice")
        token = reg["access_token"]
        await self.upload(token, {"device_keys": device.device_keys()})
        signed = SigningKey().sign("@alice:test", device.device_keys())
        r = await self.post(SIGNATURES_UPLOAD, {"@alice:test": {device.device_id: signed}}, token=token)
        self.assertEqual(r.json["failures"]["@alice:test"][device.device_id]["errcode"], "M_INVALID_SIGNATURE")

    async def test_bad_bodies(self) -> None:
        alice, _, _ = await self.with_keys("alice")
        for body in ({"alice": {}}, {"@alice:test": []}, {"@alice:test": {"KEY": "str"}}):
            r = await self.assert_rejected_without_change("POST", SIGNATURES_UPLOAD, body, 400,
                                                          "M_INVALID_PARAM" if "alice" in body else "M_BAD_JSON",
                                                          token=alice)
            self.assertIsInstance(r.json["error"], str)

    async def test_replaced_master_drops_old_signatures(self) -> None:
        alice, device, cross = await self.with_keys("alice")
        signed_device = cross.self_signing.sign("@alice:test", device.device_keys())
        await self.post(SIGNATURES_UPLOAD, {"@alice:test": {device.device_id: signed_device}}, token=alice)
        new = CrossSigning("@alice:test")
        challenge = await self.upload_signing_keys(alice, new.upload_body(), code=401)
        await self.upload_signing_keys(alice, {**new.upload_body(), "auth": {
            "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "alice"},
            "password": "password", "session": challenge["session"]}})
        result = await self.query(alice, {"@alice:test": []})
        sigs = result["device_keys"]["@alice:test"][device.device_id]["signatures"]["@alice:test"]
        self.assertEqual(list(sigs), [f"ed25519:{device.device_id}"])
