"""Server signing keys (spec: server-server "Retrieving server keys").

`ServerKeys` is ours: the current signing key, the old ones operators list, and the signed
response of `GET /_matrix/key/v2/server`.

`KeyRing` answers "which keys of server X may verify something signed at time T": ours at once;
another server's from the database, fetched when missing or expired, directly from the server
(`/_matrix/key/v2/server`) and, failing that, from the configured notaries
(`POST /_matrix/key/v2/query`). A response is believed only when every key it lists signed it,
it names the server asked about, and (through a notary) the notary signed it too. Keys are kept
until their `valid_until_ts` (capped at 7 days ahead, as the spec requires); old keys verify
what was signed before their `expired_ts`. A server whose keys could not be fetched is not asked
again for a minute."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from canonicaljson import encode_canonical_json
from signedjson.key import (
    SigningKey,
    VerifyKey,
    decode_verify_key_bytes,
    encode_verify_key_base64,
    get_verify_key,
)
from signedjson.sign import SignatureVerifyException, sign_json, verify_signed_json
from unpaddedbase64 import decode_base64

from homeserver.clock import Clock
from homeserver.storage.server_keys import ServerKeysStore, StoredKey

logger = logging.getLogger(__name__)

MAX_KEY_VALIDITY_MS = 7 * 86_400_000  # the spec's cap on how far ahead valid_until_ts counts
FETCH_RETRY_MS = 60_000
SERVER_KEYS_PATH = "/_matrix/key/v2/server"
NOTARY_QUERY_PATH = "/_matrix/key/v2/query"


class KeyFetchError(Exception):
    """A key response that cannot be believed (or could not be had)."""


class JsonFetcher(Protocol):
    """The federation client, as far as keys need it."""

    async def get_json(self, destination: str, path: str, query: dict[str, Any] | None = None) -> Any: ...

    async def post_json(self, destination: str, path: str, body: Any) -> Any: ...


def key_id_of(key: SigningKey | VerifyKey) -> str:
    return f"{key.alg}:{key.version}"


def decode_verify_key(key_id: str, key_base64: str) -> VerifyKey:
    """A verify key from its ID (`ed25519:abc`) and unpadded base64; ValueError if unusable."""
    alg, _, version = key_id.partition(":")
    if alg != "ed25519" or not version:
        raise ValueError(f"unsupported key {key_id!r}")
    try:
        return decode_verify_key_bytes(key_id, decode_base64(key_base64))
    except Exception as e:
        raise ValueError(f"bad key {key_id!r}: {e}") from None


class ServerKeys:
    """Our own keys."""

    def __init__(self, server_name: str, signing_key: SigningKey, old_keys: Mapping[str, Mapping[str, Any]],
                 clock: Clock, refresh_interval_ms: int):
        self.server_name = server_name
        self.signing_key = signing_key
        self.key_id = key_id_of(signing_key)
        self.verify_key = get_verify_key(signing_key)
        self._clock = clock
        self._refresh_interval_ms = refresh_interval_ms
        self.old_keys: dict[str, tuple[VerifyKey, int]] = {}
        for key_id, entry in old_keys.items():
            try:
                self.old_keys[key_id] = (decode_verify_key(key_id, entry["key"]), entry["expired_ts"])
            except ValueError as e:
                raise ValueError(f"old_signing_keys: {e}") from None

    def response(self) -> dict[str, Any]:
        """The body of `GET /_matrix/key/v2/server`, signed by the current key."""
        body = {
            "server_name": self.server_name,
            "valid_until_ts": self._clock.time_msec() + self._refresh_interval_ms,
            "verify_keys": {self.key_id: {"key": encode_verify_key_base64(self.verify_key)}},
            "old_verify_keys": {key_id: {"key": encode_verify_key_base64(key), "expired_ts": expired}
                                for key_id, (key, expired) in self.old_keys.items()},
        }
        return sign_json(body, self.server_name, self.signing_key)

    def sign(self, body: dict[str, Any]) -> dict[str, Any]:
        return sign_json(body, self.server_name, self.signing_key)

    def verify_keys(self, key_ids: Iterable[str], at_ms: int | None) -> dict[str, VerifyKey]:
        out: dict[str, VerifyKey] = {}
        for key_id in key_ids:
            if key_id == self.key_id:
                out[key_id] = self.verify_key
            elif key_id in self.old_keys:
                key, expired = self.old_keys[key_id]
                if at_ms is None or at_ms < expired:
                    out[key_id] = key
        return out


@dataclass(frozen=True)
class Notary:
    server_name: str
    verify_keys: dict[str, VerifyKey]  # empty: fetched from the notary itself


def notaries(config: Any) -> list[Notary]:
    """The configured `trusted_key_servers`."""
    out = []
    for i, entry in enumerate(config.trusted_key_servers):
        keys = {}
        for key_id, key in (entry.get("verify_keys") or {}).items():
            try:
                keys[key_id] = decode_verify_key(key_id, key)
            except ValueError as e:
                raise ValueError(f"trusted_key_servers[{i}]: {e}") from None
        if not keys:
            logger.warning("trusted_key_servers: %s has no verify_keys; its keys will be fetched from it "
                           "directly (trust on first use)", entry["server_name"])
        out.append(Notary(entry["server_name"], keys))
    return out


def parse_key_response(response: Any, server_name: str, now_ms: int) -> tuple[int, list[StoredKey]]:
    """Check a `/_matrix/key/v2/server`-shaped response for `server_name` (self-signed by every
    key it lists) and return (valid_until_ts as given, the keys to store). KeyFetchError if not."""
    if not isinstance(response, dict) or response.get("server_name") != server_name:
        raise KeyFetchError(f"key response is not for {server_name}")
    valid_until = response.get("valid_until_ts")
    verify_keys = response.get("verify_keys")
    old_keys = response.get("old_verify_keys", {})
    if not isinstance(valid_until, int) or isinstance(valid_until, bool) or not isinstance(verify_keys, dict) \
            or not isinstance(old_keys, dict) or not verify_keys:
        raise KeyFetchError(f"malformed key response from {server_name}")
    capped = min(valid_until, now_ms + MAX_KEY_VALIDITY_MS)
    keys: list[StoredKey] = []
    for key_id, entry in verify_keys.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise KeyFetchError(f"malformed key {key_id} from {server_name}")
        try:
            key = decode_verify_key(key_id, entry["key"])
        except ValueError as e:
            raise KeyFetchError(str(e)) from None
        try:
            verify_signed_json(response, server_name, key)
        except SignatureVerifyException:
            raise KeyFetchError(f"key response of {server_name} is not signed by its key {key_id}") from None
        keys.append(StoredKey(server_name, key_id, entry["key"], capped, None))
    for key_id, entry in old_keys.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) \
                or not isinstance(entry.get("expired_ts"), int):
            continue
        try:
            decode_verify_key(key_id, entry["key"])
        except ValueError:
            continue
        keys.append(StoredKey(server_name, key_id, entry["key"], entry["expired_ts"], entry["expired_ts"]))
    return valid_until, keys


class KeyRing:
    def __init__(self, own: ServerKeys, store: ServerKeysStore, clock: Clock, notaries: list[Notary]):
        self._own = own
        self._store = store
        self._clock = clock
        self._notaries = notaries
        self._fetcher: JsonFetcher | None = None
        self._failed_until: dict[str, int] = {}

    def set_fetcher(self, fetcher: JsonFetcher) -> None:
        """The federation client (built after the key ring: it signs with our keys)."""
        self._fetcher = fetcher

    async def verify_keys(self, server_name: str, key_ids: Iterable[str], at_ms: int | None) -> Mapping[str, VerifyKey]:
        """The keys of `server_name` among `key_ids` that may verify something signed at `at_ms`
        (None: at any time, for room versions that do not enforce key validity)."""
        key_ids = list(key_ids)
        if server_name == self._own.server_name:
            return self._own.verify_keys(key_ids, at_ms)
        found = self._usable(await self._store.get_keys(server_name), key_ids, at_ms)
        if len(found) < len(key_ids) and await self._fetch(server_name, key_ids):
            found = self._usable(await self._store.get_keys(server_name), key_ids, at_ms)
        return found

    @staticmethod
    def _usable(stored: Mapping[str, StoredKey], key_ids: list[str], at_ms: int | None) -> dict[str, VerifyKey]:
        out: dict[str, VerifyKey] = {}
        for key_id in key_ids:
            key = stored.get(key_id)
            if key is None:
                continue
            if at_ms is not None and at_ms > key.valid_until_ts:
                continue
            try:
                out[key_id] = decode_verify_key(key_id, key.verify_key)
            except ValueError:
                continue
        return out

    async def _fetch(self, server_name: str, key_ids: list[str]) -> bool:
        """Fetch fresh keys of the server (directly, then through notaries); True if any came."""
        now = self._clock.time_msec()
        if self._fetcher is None or self._failed_until.get(server_name, 0) > now:
            return False
        try:
            await self.fetch_direct(server_name)
            return True
        except Exception as e:
            logger.info("Fetching the keys of %s directly failed: %s", server_name, e)
        for notary in self._notaries:
            try:
                if await self.fetch_via_notary(notary, server_name, key_ids):
                    return True
            except Exception as e:
                logger.info("Fetching the keys of %s through %s failed: %s", server_name, notary.server_name, e)
        self._failed_until[server_name] = now + FETCH_RETRY_MS
        if len(self._failed_until) > 10_000:
            self._failed_until = {s: t for s, t in self._failed_until.items() if t > now}
        return False

    async def fetch_direct(self, server_name: str) -> None:
        assert self._fetcher is not None
        response = await self._fetcher.get_json(server_name, SERVER_KEYS_PATH)
        await self._accept(response, server_name, server_name)

    async def fetch_via_notary(self, notary: Notary, server_name: str, key_ids: list[str]) -> bool:
        assert self._fetcher is not None
        now = self._clock.time_msec()
        body = {"server_keys": {server_name: {key_id: {"minimum_valid_until_ts": now} for key_id in key_ids}}}
        answer = await self._fetcher.post_json(notary.server_name, NOTARY_QUERY_PATH, body)
        responses = answer.get("server_keys") if isinstance(answer, dict) else None
        if not isinstance(responses, list):
            raise KeyFetchError(f"malformed notary answer from {notary.server_name}")
        notary_keys = notary.verify_keys or await self._current_keys(notary.server_name)
        accepted = False
        for response in responses:
            if not isinstance(response, dict) or response.get("server_name") != server_name:
                continue
            if not self._signed_by_notary(response, notary, notary_keys):
                logger.warning("Notary %s answered keys of %s without its signature", notary.server_name,
                               server_name)
                continue
            await self._accept(response, server_name, notary.server_name)
            accepted = True
        return accepted

    async def _current_keys(self, server_name: str) -> dict[str, VerifyKey]:
        """Every key of the server valid now (fetched directly when none is): for a notary
        configured without `verify_keys`."""
        now = self._clock.time_msec()
        stored = await self._store.get_keys(server_name)
        usable = self._usable(stored, list(stored), now)
        if not usable:
            await self.fetch_direct(server_name)
            stored = await self._store.get_keys(server_name)
            usable = self._usable(stored, list(stored), now)
        return usable

    def _signed_by_notary(self, response: dict[str, Any], notary: Notary, keys: Mapping[str, VerifyKey]) -> bool:
        sigs = response.get("signatures", {}).get(notary.server_name) if isinstance(response.get("signatures"),
                                                                                      dict) else None
        if not isinstance(sigs, dict):
            return False
        if not keys:
            return False
        for key_id, key in keys.items():
            if key_id in sigs:
                try:
                    verify_signed_json(response, notary.server_name, key)
                    return True
                except SignatureVerifyException:
                    return False
        return False

    async def _accept(self, response: Any, server_name: str, from_server: str) -> None:
        now = self._clock.time_msec()
        valid_until, keys = parse_key_response(response, server_name, now)
        await self._store.store_response(server_name, from_server, valid_until,
                                         encode_canonical_json(response).decode("utf-8"), keys, now)

    # -- the notary API -------------------------------------------------------------------------

    async def query(self, server_name: str, minimum_valid_until_ts: int) -> list[dict[str, Any]]:
        """Key responses of `server_name` for our notary API, each with our signature added: what
        we hold when it is valid long enough, else what the server answers now (or nothing)."""
        if server_name == self._own.server_name:
            return [self._own.response()]
        stored = await self._store.get_responses(server_name)
        fresh = [json.loads(r) for src, until, r in stored if src == server_name and until >= minimum_valid_until_ts]
        if not fresh and self._fetcher is not None and self._failed_until.get(server_name, 0) <= self._clock.time_msec():
            try:
                await self.fetch_direct(server_name)
            except Exception as e:
                logger.info("Notary query: fetching the keys of %s failed: %s", server_name, e)
                self._failed_until[server_name] = self._clock.time_msec() + FETCH_RETRY_MS
            stored = await self._store.get_responses(server_name)
            fresh = [json.loads(r) for src, _, r in stored if src == server_name]
        if not fresh:
            fresh = [json.loads(r) for src, _, r in stored]
        return [self._own.sign(response) for response in fresh]
