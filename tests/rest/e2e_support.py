"""Test doubles of a client's crypto: a device with real ed25519 signing keys (signedjson) and a
user's cross-signing keys, producing the objects the spec's key endpoints take."""

from __future__ import annotations

import os
from typing import Any

from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key
from signedjson.sign import sign_json
from unpaddedbase64 import encode_base64

from tests.rest.test_rooms import V3, RoomsTestCase

OLM = "m.olm.v1.curve25519-aes-sha2"
MEGOLM = "m.megolm.v1.aes-sha2"


def random_curve25519() -> str:
    return encode_base64(os.urandom(32))


class FakeDevice:
    def __init__(self, user_id: str, device_id: str):
        self.user_id = user_id
        self.device_id = device_id
        self.signing_key = generate_signing_key(device_id)
        self.ed25519 = encode_verify_key_base64(get_verify_key(self.signing_key))
        self.curve25519 = random_curve25519()

    def device_keys(self, **override: Any) -> dict[str, Any]:
        keys = {"user_id": self.user_id, "device_id": self.device_id, "algorithms": [OLM, MEGOLM],
                "keys": {f"curve25519:{self.device_id}": self.curve25519,
                         f"ed25519:{self.device_id}": self.ed25519}}
        keys.update(override)
        return sign_json(keys, self.user_id, self.signing_key)

    def one_time_keys(self, count: int, start: int = 0) -> dict[str, Any]:
        return {f"signed_curve25519:AAAA{i}": sign_json({"key": random_curve25519()}, self.user_id, self.signing_key)
                for i in range(start, start + count)}

    def fallback_key(self, key_id: str = "FFFF") -> dict[str, Any]:
        return {f"signed_curve25519:{key_id}": sign_json({"key": random_curve25519(), "fallback": True},
                                                         self.user_id, self.signing_key)}

    def sign(self, obj: dict[str, Any]) -> dict[str, Any]:
        return sign_json(dict(obj), self.user_id, self.signing_key)


class SigningKey:
    """One cross-signing key pair: its key ID is "ed25519:" + its public key."""

    def __init__(self) -> None:
        self.key = generate_signing_key("x")
        self.public = encode_verify_key_base64(get_verify_key(self.key))
        self.key.version = self.public

    def sign(self, user_id: str, obj: dict[str, Any]) -> dict[str, Any]:
        return sign_json(dict(obj), user_id, self.key)


class CrossSigning:
    def __init__(self, user_id: str):
        self.user_id = user_id
        self.master, self.self_signing, self.user_signing = SigningKey(), SigningKey(), SigningKey()

    def key(self, which: str) -> dict[str, Any]:
        key = {"master": self.master, "self_signing": self.self_signing, "user_signing": self.user_signing}[which]
        obj = {"user_id": self.user_id, "usage": [which], "keys": {f"ed25519:{key.public}": key.public}}
        return obj if which == "master" else self.master.sign(self.user_id, obj)

    def upload_body(self) -> dict[str, Any]:
        return {"master_key": self.key("master"), "self_signing_key": self.key("self_signing"),
                "user_signing_key": self.key("user_signing")}


class E2ETestCase(RoomsTestCase):
    async def account(self, name: str) -> tuple[dict[str, Any], FakeDevice]:
        """A registered user and a fake crypto device for their logged-in device."""
        reg = await self.register(name)
        return reg, FakeDevice(reg["user_id"], reg["device_id"])

    async def upload(self, token: str, body: dict[str, Any], code: int = 200) -> dict[str, Any]:
        r = await self.post(f"{V3}/keys/upload", body, token=token)
        self.assertEqual(r.code, code, r.json)
        return r.json

    async def query(self, token: str, device_keys: dict[str, list[str]]) -> dict[str, Any]:
        r = await self.post(f"{V3}/keys/query", {"device_keys": device_keys}, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def claim(self, token: str, one_time_keys: dict[str, dict[str, str]]) -> dict[str, Any]:
        r = await self.post(f"{V3}/keys/claim", {"one_time_keys": one_time_keys}, token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json

    async def sync(self, token: str, since: str | None = None, timeout: int = 0) -> dict[str, Any]:
        query = f"?timeout={timeout}" + (f"&since={since}" if since else "")
        r = await self.get(f"{V3}/sync{query}", token=token)
        self.assertEqual(r.code, 200, r.json)
        return r.json
