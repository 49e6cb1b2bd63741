"""Cross-signing: a user's master, self-signing and user-signing keys, and the signatures made
with them (own devices by the self-signing key, own master key by a device, other users' master
keys by the user-signing key). Spec: client-server API, "Cross-signing"."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden, invalid_param
from homeserver.clock import Clock
from homeserver.handlers.device_lists import DeviceListsHandler
from homeserver.handlers.e2e_keys import (
    INVALID_SIGNATURE,
    PUBLIC_KEY_RE,
    E2EKeysHandler,
    signature_is_valid,
    without_signatures,
)
from homeserver.storage.devices import DevicesStore
from homeserver.storage.e2e_keys import CrossSigningKey, E2EKeysStore, Signature

KEY_TYPES = {"master_key": "master", "self_signing_key": "self_signing", "user_signing_key": "user_signing"}


def _failure(errcode: str, message: str) -> dict[str, str]:
    return {"errcode": errcode, "error": message}


def _signatures_by(signed: dict[str, Any], signer: str) -> dict[str, str]:
    """signed["signatures"][signer], ignoring anything malformed."""
    signatures = signed.get("signatures")
    mine = signatures.get(signer) if isinstance(signatures, dict) else None
    return {k: v for k, v in mine.items() if isinstance(v, str)} if isinstance(mine, dict) else {}


class CrossSigningHandler:
    def __init__(self, clock: Clock, store: E2EKeysStore, keys: E2EKeysHandler, devices: DevicesStore,
                 device_lists: DeviceListsHandler):
        self._clock = clock
        self._store = store
        self._keys = keys
        self._devices = devices
        self._device_lists = device_lists

    # -- uploading cross-signing keys -----------------------------------------------------------

    async def check_signing_keys(self, user_id: str, body: dict[str, Any]) -> tuple[list[CrossSigningKey], bool]:
        """Validate the uploaded keys. Returns them, and whether the upload needs user-interactive
        auth: not for the first master key, nor for keys identical to the stored ones (a retry)."""
        existing = await self._keys.get_cross_signing_keys(user_id)
        device_ids = {d.device_id for d in await self._devices.get_devices(user_id)}
        keys = [self._parse_key(user_id, field, key_type, body[field], device_ids)
                for field, key_type in KEY_TYPES.items() if body.get(field) is not None]
        uploaded = {k.key_type: k for k in keys}
        master = uploaded.get("master") or existing.get("master")
        for key in keys:
            if key.key_type == "master":
                continue
            if master is None:
                raise MatrixError(400, Codes.MISSING_PARAM, "No master signing key: upload master_key first or with it")
            if not signature_is_valid(key.key, user_id, "ed25519:" + master.public_key, master.public_key):
                raise MatrixError(400, INVALID_SIGNATURE,
                                  f"The {key.key_type} key is not signed by the master signing key")
        new = [k for k in keys if k.key_type not in existing
               or without_signatures(existing[k.key_type].key) != without_signatures(k.key)]
        return new, "master" in existing and bool(new)

    @staticmethod
    def _parse_key(user_id: str, field: str, key_type: str, key: dict[str, Any], device_ids: set[str]
                   ) -> CrossSigningKey:
        if key.get("user_id") != user_id:
            raise invalid_param(f"{field}.user_id must be the uploading user ({user_id})")
        if key_type not in key["usage"]:
            raise invalid_param(f"{field}.usage must contain {key_type!r}")
        if len(key["keys"]) != 1:
            raise invalid_param(f"{field}.keys must hold exactly one key")
        key_id, public_key = next(iter(key["keys"].items()))
        if key_id != "ed25519:" + public_key or not PUBLIC_KEY_RE.fullmatch(public_key):
            raise invalid_param(f"{field}.keys must be {{'ed25519:<public key>': '<public key>'}} with an "
                                "unpadded base64 ed25519 key")
        if public_key in device_ids:
            raise forbidden(f"The public key of {field} is the ID of one of your devices")
        return CrossSigningKey(key_type, public_key, {k: v for k, v in key.items() if k != "unsigned"})

    async def store_signing_keys(self, user_id: str, keys: list[CrossSigningKey]) -> None:
        if keys:
            await self._store.set_cross_signing_keys(user_id, keys, self._clock.time_msec())
            await self._device_lists.user_keys_changed(user_id)

    # -- uploading signatures -------------------------------------------------------------------

    async def upload_signatures(self, signer: str, body: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
        own_keys = await self._keys.get_cross_signing_keys(signer)
        failures: dict[str, dict[str, Any]] = {}
        valid: list[Signature] = []
        for target_user, objects in body.items():
            target_keys = own_keys if target_user == signer else await self._keys.get_cross_signing_keys(target_user)
            for key_id, signed in objects.items():
                try:
                    valid += await self._check_signed_object(signer, own_keys, target_user, target_keys, key_id,
                                                             signed)
                except MatrixError as e:
                    failures.setdefault(target_user, {})[key_id] = _failure(e.errcode, e.msg)
        await self._store.add_signatures(valid)
        if any(s.target_user_id == signer for s in valid):
            await self._device_lists.user_keys_changed(signer)
        for target in sorted({s.target_user_id for s in valid if s.target_user_id != signer}):
            await self._device_lists.signature_added_by(signer, target)
        return {"failures": failures}

    async def _check_signed_object(self, signer: str, own_keys: dict[str, CrossSigningKey], target_user: str,
                                   target_keys: dict[str, CrossSigningKey], key_id: str, signed: dict[str, Any]
                                   ) -> list[Signature]:
        """The new valid signatures `signed` carries; a MatrixError says why there are none."""
        master = target_keys.get("master")
        if master is not None and key_id == master.public_key:
            stored = master.key
            if target_user == signer:
                # Own master key, signed by one of the signer's devices.
                signers = await self._device_signing_keys(signer, signed, exclude="ed25519:" + master.public_key)
            else:
                signers = self._cross_signing_signer(signer, own_keys, "user_signing")
        elif target_user == signer:
            device = await self._keys.get_device_keys(signer, key_id)
            if device is None:
                raise MatrixError(404, Codes.NOT_FOUND, f"No key {key_id!r} of {target_user}")
            stored = device
            signers = self._cross_signing_signer(signer, own_keys, "self_signing")
        else:
            raise MatrixError(404, Codes.NOT_FOUND, f"{target_user} has no master key {key_id!r} (only master "
                              "keys of other users can be signed)")
        if without_signatures(signed) != without_signatures(stored):
            raise invalid_param("The signed object does not match the stored key")
        signatures = _signatures_by(signed, signer)
        found = [Signature(signer, sid, target_user, key_id, signatures[sid]) for sid, public_key in signers
                 if sid in signatures and signature_is_valid(signed, signer, sid, public_key)]
        if not found:
            raise MatrixError(400, INVALID_SIGNATURE, "No valid signature by the expected key")
        return found

    @staticmethod
    def _cross_signing_signer(signer: str, own_keys: dict[str, CrossSigningKey], key_type: str
                              ) -> list[tuple[str, str]]:
        key = own_keys.get(key_type)
        if key is None:
            raise MatrixError(400, INVALID_SIGNATURE, f"{signer} has no {key_type} key to sign with")
        return [("ed25519:" + key.public_key, key.public_key)]

    async def _device_signing_keys(self, signer: str, signed: dict[str, Any], exclude: str
                                   ) -> list[tuple[str, str]]:
        """(key ID, public key) of the signer's devices that signed `signed`."""
        signatures = _signatures_by(signed, signer)
        out = []
        for sid in signatures:
            algorithm, _, device_id = sid.partition(":")
            if sid == exclude or algorithm != "ed25519":
                continue
            device = await self._keys.get_device_keys(signer, device_id)
            public_key = (device or {}).get("keys", {}).get(sid)
            if isinstance(public_key, str):
                out.append((sid, public_key))
        return out
