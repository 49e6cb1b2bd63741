"""Device keys for end-to-end encryption: uploading identity, one-time and fallback keys, querying
other users' keys (with cross-signing keys and the signatures the requester may see), claiming
one-time keys. Spec: client-server API, "End-to-end encryption"."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from signedjson.key import decode_verify_key_base64
from signedjson.sign import SignatureVerifyException, verify_signed_json
from twisted.internet import defer

from homeserver.api.errors import Codes, MatrixError, invalid_param
from homeserver.clock import Clock
from homeserver.federation.api import FederationApi
from homeserver.handlers.device_lists import DeviceListsHandler
from homeserver.storage.e2e_keys import (
    CrossSigningKey,
    E2EKeysStore,
    OneTimeKeyConflict,
    Signature,
    StaleDeviceKeys,
)

logger = logging.getLogger(__name__)

INVALID_SIGNATURE = "M_INVALID_SIGNATURE"
ALGORITHM_RE = re.compile(r"[A-Za-z0-9_.\-]+")
ONE_TIME_ALGORITHM = "signed_curve25519"
# An unpadded base64 ed25519 or curve25519 public key: 32 bytes.
PUBLIC_KEY_RE = re.compile(r"[A-Za-z0-9+/]{43}")
REMOTE_UNREACHABLE = {"status": 503, "message": "Federation is not available on this server"}
DEFAULT_TIMEOUT_MS = 10_000  # how long /keys/query and /keys/claim wait for other servers
MAX_TIMEOUT_MS = 60_000

if TYPE_CHECKING:
    from homeserver.handlers.remote_device_lists import RemoteDeviceListsHandler
    from homeserver.storage.remote_device_lists import RemoteDeviceList


def split_key_id(key_id: str, what: str) -> tuple[str, str]:
    """"<algorithm>:<id>" -> (algorithm, id), or a 400 naming the bad key."""
    algorithm, sep, ident = key_id.partition(":")
    if not sep or not ident or not ALGORITHM_RE.fullmatch(algorithm):
        raise invalid_param(f"Malformed key ID {key_id!r} in {what}: expected '<algorithm>:<key_id>'")
    return algorithm, ident


def signature_is_valid(signed: dict[str, Any], signer_user_id: str, key_id: str, public_key: str) -> bool:
    """Whether `signed` carries a valid signature by `signer_user_id`'s ed25519 key `key_id`."""
    algorithm, _, version = key_id.partition(":")
    if algorithm != "ed25519":
        return False
    try:
        verify_key = decode_verify_key_base64("ed25519", version, public_key)
        verify_signed_json(signed, signer_user_id, verify_key)
    except (SignatureVerifyException, ValueError, TypeError, KeyError):
        return False
    return True


def valid_device_keys(user_id: str, device_id: str, keys: Any) -> bool:
    """Whether another server's device keys are the device's and signed by its own ed25519 key."""
    if not isinstance(keys, dict) or keys.get("user_id") != user_id or keys.get("device_id") != device_id \
            or not isinstance(keys.get("keys"), dict):
        return False
    signing_key = keys["keys"].get(f"ed25519:{device_id}")
    return isinstance(signing_key, str) and signature_is_valid(keys, user_id, f"ed25519:{device_id}", signing_key)


def valid_signing_key(user_id: str, key: Any) -> bool:
    """Whether another server's cross-signing key is well formed and the user's."""
    return isinstance(key, dict) and key.get("user_id") == user_id and isinstance(key.get("keys"), dict) \
        and bool(key["keys"]) and isinstance(key.get("usage"), list)


def device_keys_of(device_list: RemoteDeviceList, device_ids: list[str]) -> dict[str, Any]:
    """The /keys/query `device_keys` entry of a kept list (all devices when `device_ids` is empty)."""
    out = {}
    for device_id, entry in device_list.devices.items():
        if device_ids and device_id not in device_ids:
            continue
        unsigned = {"device_display_name": entry["device_display_name"]} if "device_display_name" in entry else {}
        out[device_id] = {**entry["keys"], "unsigned": unsigned}
    return out


def without_signatures(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}


def is_local(user_id: str, server_name: str) -> bool:
    return user_id.partition(":")[2] == server_name


def merge_signatures(key: dict[str, Any], signatures: list[Signature]) -> dict[str, Any]:
    if not signatures:
        return key
    merged = dict(key)
    merged["signatures"] = {u: dict(s) for u, s in key.get("signatures", {}).items()}
    for s in signatures:
        merged["signatures"].setdefault(s.signer_user_id, {})[s.signer_key_id] = s.signature
    return merged


class E2EKeysHandler:
    def __init__(self, server_name: str, clock: Clock, store: E2EKeysStore, device_lists: DeviceListsHandler,
                 federation: FederationApi | None = None, remote_lists: RemoteDeviceListsHandler | None = None):
        self._federation = federation
        self._remote_lists = remote_lists
        self._server_name = server_name
        self._clock = clock
        self._store = store
        self._device_lists = device_lists

    # -- upload ---------------------------------------------------------------------------------

    async def upload(self, user_id: str, device_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Check everything first, then store: a request with one bad part changes nothing."""
        device_keys = body.get("device_keys")
        if device_keys is not None:
            device_keys = self._check_device_keys(user_id, device_id, device_keys)
        one_time = self._parse_keys(body.get("one_time_keys") or {}, "one_time_keys")
        fallback = self._parse_keys(body.get("fallback_keys") or {}, "fallback_keys")
        if len({algorithm for algorithm, _, _ in fallback}) != len(fallback):
            raise invalid_param("fallback_keys may hold only one key per algorithm")
        changed = False
        for attempt in range(2):  # once more if a concurrent upload of this device got in first
            new_keys, replaces, new_identity = device_keys, None, False
            if device_keys is not None:
                replaces = await self._store.get_stored_device_keys(user_id, device_id)
                # Different identity keys for a known device: a client that logged in again with
                # this device ID after losing its crypto store. Accepted (as other servers do, else
                # such a client could never do E2EE again); the old identity's one-time and fallback
                # keys and signatures go, since they are useless to anyone claiming or verifying.
                new_identity = replaces is not None and replaces["keys"] != device_keys["keys"]
                if replaces == device_keys:
                    new_keys = None  # the same upload again (a retry): nothing to change
            try:
                await self._store.upload_keys(user_id, device_id, new_keys, replaces, one_time, fallback,
                                              self._clock.time_msec(), drop_old_keys=new_identity)
            except OneTimeKeyConflict as e:
                raise invalid_param(f"One-time key {e.args[0]} already exists with different content") from None
            except StaleDeviceKeys:
                if attempt == 0:
                    continue
                raise MatrixError(409, Codes.UNKNOWN, "The device's keys were changed by a concurrent upload; "
                                  "retry") from None
            changed = new_keys is not None
            break
        if changed:
            await self._device_lists.user_keys_changed(user_id)
        return {"one_time_key_counts": await self.one_time_key_counts(user_id, device_id)}

    def _check_device_keys(self, user_id: str, device_id: str, keys: dict[str, Any]) -> dict[str, Any]:
        if keys.get("user_id") != user_id or keys.get("device_id") != device_id:
            raise invalid_param("device_keys must be for the uploading user and device "
                                f"(user_id {user_id}, device_id {device_id})")
        for key_id, value in keys["keys"].items():
            algorithm, ident = split_key_id(key_id, "device_keys.keys")
            if ident != device_id:
                raise invalid_param(f"Key ID {key_id!r} in device_keys.keys must end in the device ID")
            if algorithm in ("ed25519", "curve25519") and not PUBLIC_KEY_RE.fullmatch(value):
                raise invalid_param(f"device_keys.keys[{key_id!r}] is not an unpadded base64 {algorithm} key")
        for required in ("ed25519", "curve25519"):
            if f"{required}:{device_id}" not in keys["keys"]:
                raise invalid_param(f"device_keys.keys must hold the device's {required} key")
        signing_key_id = f"ed25519:{device_id}"
        if not signature_is_valid(keys, user_id, signing_key_id, keys["keys"][signing_key_id]):
            raise MatrixError(400, INVALID_SIGNATURE, "device_keys is not signed by the device's ed25519 key")
        return without_signatures(keys) | {"signatures": keys["signatures"]}

    @staticmethod
    def _parse_keys(keys: dict[str, Any], what: str) -> list[tuple[str, str, Any]]:
        parsed = []
        for key_id, key in keys.items():
            algorithm, ident = split_key_id(key_id, what)
            if algorithm.startswith("signed_"):
                if not isinstance(key, dict) or not isinstance(key.get("key"), str) \
                        or not isinstance(key.get("signatures"), dict):
                    raise invalid_param(f"{what}[{key_id!r}] must be an object with 'key' and 'signatures'")
            elif not isinstance(key, (str, dict)):
                raise invalid_param(f"{what}[{key_id!r}] must be a string or an object")
            parsed.append((algorithm, ident, key))
        return parsed

    async def one_time_key_counts(self, user_id: str, device_id: str) -> dict[str, int]:
        """Always names signed_curve25519, so clients know to top it up from zero."""
        return {ONE_TIME_ALGORITHM: 0} | await self._store.count_one_time_keys(user_id, device_id)

    async def unused_fallback_key_types(self, user_id: str, device_id: str) -> list[str]:
        return await self._store.get_unused_fallback_key_types(user_id, device_id)

    # -- query ----------------------------------------------------------------------------------

    async def query(self, requester: str, wanted: dict[str, list[str]], timeout_ms: int = DEFAULT_TIMEOUT_MS
                    ) -> dict[str, Any]:
        """Device and cross-signing keys of local and (asked of their servers, in parallel)
        remote users; servers that fail or take longer than `timeout_ms` are named in `failures`."""
        local = {u: d for u, d in wanted.items() if is_local(u, self._server_name)}
        by_server: dict[str, dict[str, list[str]]] = {}
        for user_id, devices in wanted.items():
            if user_id not in local:
                by_server.setdefault(user_id.partition(":")[2], {})[user_id] = devices
        result = await self._query_local(requester, local)
        answers, failures = await self._ask_servers(by_server, self._query_remote, timeout_ms)
        for answer in answers.values():
            for key in ("device_keys", "master_keys", "self_signing_keys"):
                result[key].update(answer.get(key, {}))
        result["failures"].update(failures)
        return result

    async def _ask_servers(self, by_server: dict[str, Any], ask: Any, timeout_ms: int
                           ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(server -> its checked answer, server -> the failure to report); all asked at once,
        waited for at most `timeout_ms` (a late answer still lands, e.g. in the device-list cache)."""
        if not by_server:
            return {}, {}
        if self._federation is None:
            return {}, {server: dict(REMOTE_UNREACHABLE) for server in by_server}
        timeout_s = min(max(timeout_ms, 0), MAX_TIMEOUT_MS) / 1000
        servers = sorted(by_server)
        outcomes = await defer.DeferredList(
            [self._clock.wait_at_most(defer.ensureDeferred(ask(server, by_server[server])), timeout_s)
             for server in servers], consumeErrors=True)
        answers: dict[str, Any] = {}
        failures: dict[str, Any] = {}
        for server, (ok, value) in zip(servers, outcomes, strict=True):
            if ok:
                answers[server] = value
            else:
                logger.info("Keys of %s's users: %s", server, value.getErrorMessage())
                failures[server] = {"status": 503, "message": f"{server} could not be reached"}
        return answers, failures

    async def _query_remote(self, server: str, wanted: dict[str, list[str]]) -> dict[str, Any]:
        """The keys of another server's users, those that are well formed and signed by their
        device: from the device lists we track (users sharing a room with ours), the others asked
        of the server."""
        assert self._federation is not None
        out: dict[str, Any] = {"device_keys": {}, "master_keys": {}, "self_signing_keys": {}}
        tracked = [u for u in wanted if self._remote_lists is not None and await self._remote_lists.is_tracked(u)]
        if tracked:
            assert self._remote_lists is not None
            lists = await defer.gatherResults(
                [defer.ensureDeferred(self._remote_lists.get(u)) for u in tracked], consumeErrors=True)
            for device_list in lists:
                user_id = device_list.user_id
                out["device_keys"][user_id] = device_keys_of(device_list, wanted[user_id])
                if device_list.master_key is not None:
                    out["master_keys"][user_id] = device_list.master_key
                if device_list.self_signing_key is not None:
                    out["self_signing_keys"][user_id] = device_list.self_signing_key
        others = {u: d for u, d in wanted.items() if u not in tracked}
        if not others:
            return out
        answer = await self._federation.query_keys(server, others)
        if not isinstance(answer, dict):
            raise ValueError("not an object")
        device_keys = answer.get("device_keys")
        for user_id, devices in (device_keys.items() if isinstance(device_keys, dict) else []):
            if user_id not in others or not isinstance(devices, dict):
                continue
            out["device_keys"][user_id] = {device_id: keys for device_id, keys in devices.items()
                                           if valid_device_keys(user_id, device_id, keys)}
        for key in ("master_keys", "self_signing_keys"):
            given = answer.get(key)
            for user_id, signing_key in (given.items() if isinstance(given, dict) else []):
                if user_id in others and valid_signing_key(user_id, signing_key):
                    out[key][user_id] = signing_key
        return out

    async def federation_query(self, wanted: dict[str, Any]) -> dict[str, Any]:
        """POST /_matrix/federation/v1/user/keys/query: our users' keys, for another server."""
        local = {u: d if isinstance(d, list) else [] for u, d in wanted.items()
                 if isinstance(u, str) and is_local(u, self._server_name)}
        found = await self._query_local("", local)
        return {k: found[k] for k in ("device_keys", "master_keys", "self_signing_keys")}

    async def federation_claim(self, wanted: dict[str, Any]) -> dict[str, Any]:
        """POST /_matrix/federation/v1/user/keys/claim: one-time keys of our users' devices."""
        local = {u: {d: a for d, a in devices.items() if isinstance(d, str) and isinstance(a, str)}
                 for u, devices in wanted.items()
                 if isinstance(u, str) and is_local(u, self._server_name) and isinstance(devices, dict)}
        return {"one_time_keys": (await self._claim_local(local))}

    async def federation_devices(self, user_id: str, stream_id: int) -> dict[str, Any]:
        """GET /_matrix/federation/v1/user/devices/{userId}: a user's devices and signing keys."""
        if not is_local(user_id, self._server_name):
            raise MatrixError(404, Codes.NOT_FOUND, "Not a user of this server")
        found = await self._query_local("", {user_id: []})
        devices = [{"device_id": device_id, "keys": {k: v for k, v in keys.items() if k != "unsigned"},
                    **({"device_display_name": keys["unsigned"]["device_display_name"]}
                       if "device_display_name" in keys.get("unsigned", {}) else {})}
                   for device_id, keys in sorted(found["device_keys"].get(user_id, {}).items())]
        answer: dict[str, Any] = {"user_id": user_id, "stream_id": stream_id, "devices": devices}
        if user_id in found["master_keys"]:
            answer["master_key"] = found["master_keys"][user_id]
        if user_id in found["self_signing_keys"]:
            answer["self_signing_key"] = found["self_signing_keys"][user_id]
        return answer

    async def _query_local(self, requester: str, local: dict[str, list[str]]) -> dict[str, Any]:
        failures: dict[str, Any] = {}
        existing, found, cross_signing, signatures = await self._store.get_keys_for_query(local)
        by_target: dict[tuple[str, str], list[Signature]] = {}
        for s in signatures:
            by_target.setdefault((s.target_user_id, s.target_key_id), []).append(s)

        device_keys: dict[str, Any] = {}
        for user_id in sorted(existing):
            devices = device_keys[user_id] = {}
            for device_id, (keys, display_name) in found.get(user_id, {}).items():
                # Only the owner's own (self-signing) signatures go on devices.
                sigs = [s for s in by_target.get((user_id, device_id), []) if s.signer_user_id == user_id]
                devices[device_id] = merge_signatures(keys, sigs) | {"unsigned": {
                    **({"device_display_name": display_name} if display_name is not None else {})}}
        result: dict[str, Any] = {"device_keys": device_keys, "failures": failures,
                                  "master_keys": {}, "self_signing_keys": {}, "user_signing_keys": {}}
        for user_id, keys in cross_signing.items():
            if "master" in keys:
                master = keys["master"]
                # A signature by someone else on a master key is that person's own business.
                sigs = [s for s in by_target.get((user_id, master.public_key), [])
                        if s.signer_user_id in (user_id, requester)]
                result["master_keys"][user_id] = merge_signatures(master.key, sigs)
            if "self_signing" in keys:
                result["self_signing_keys"][user_id] = keys["self_signing"].key
            if "user_signing" in keys and user_id == requester:
                result["user_signing_keys"][user_id] = keys["user_signing"].key
        return result

    # -- claim ----------------------------------------------------------------------------------

    async def claim(self, wanted: dict[str, dict[str, str]], timeout_ms: int = DEFAULT_TIMEOUT_MS) -> dict[str, Any]:
        """One-time keys of local and (asked of their servers, in parallel) remote devices."""
        local = {u: d for u, d in wanted.items() if is_local(u, self._server_name)}
        by_server: dict[str, dict[str, dict[str, str]]] = {}
        for user_id, devices in wanted.items():
            if user_id not in local:
                by_server.setdefault(user_id.partition(":")[2], {})[user_id] = devices
        one_time_keys = await self._claim_local(local)
        answers, failures = await self._ask_servers(by_server, self._claim_remote, timeout_ms)
        for answer in answers.values():
            one_time_keys.update(answer["one_time_keys"])
        return {"one_time_keys": one_time_keys, "failures": failures}

    async def _claim_local(self, wanted: dict[str, dict[str, str]]) -> dict[str, dict[str, dict[str, Any]]]:
        claims = [(user_id, device_id, algorithm) for user_id, devices in wanted.items()
                  for device_id, algorithm in devices.items()]
        one_time_keys: dict[str, dict[str, dict[str, Any]]] = {}
        for (user_id, device_id), (key_id, key) in (await self._store.claim_keys(claims)).items():
            algorithm = wanted[user_id][device_id]
            one_time_keys.setdefault(user_id, {})[device_id] = {f"{algorithm}:{key_id}": key}
        return one_time_keys

    async def _claim_remote(self, server: str, wanted: dict[str, dict[str, str]]) -> dict[str, Any]:
        assert self._federation is not None
        answer = await self._federation.claim_keys(server, wanted)
        given = answer.get("one_time_keys") if isinstance(answer, dict) else None
        if not isinstance(given, dict):
            raise ValueError("no one_time_keys")
        kept = {user_id: {device_id: keys for device_id, keys in devices.items()
                          if device_id in wanted[user_id] and isinstance(keys, dict)}
                for user_id, devices in given.items() if user_id in wanted and isinstance(devices, dict)}
        return {"one_time_keys": kept}

    # -- for cross-signing ----------------------------------------------------------------------

    async def get_device_keys(self, user_id: str, device_id: str) -> dict[str, Any] | None:
        found = await self._store.get_device_keys([(user_id, device_id)])
        entry = found.get(user_id, {}).get(device_id)
        return entry[0] if entry else None

    async def get_cross_signing_keys(self, user_id: str) -> dict[str, CrossSigningKey]:
        return (await self._store.get_cross_signing_keys([user_id])).get(user_id, {})
