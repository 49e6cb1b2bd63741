"""Server-side key backups (spec: end-to-end encryption, "Server-side key backups"): versions,
and the room keys stored in the current one, kept or replaced by the spec's rule."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import MatrixError, invalid_param, not_found
from homeserver.api.numbers import parse_position
from homeserver.storage.key_backup import BackedUpKey, BackupVersion, KeyBackupStore
from homeserver.util.linearizer import Linearizer

WRONG_ROOM_KEYS_VERSION = "M_WRONG_ROOM_KEYS_VERSION"


def parse_version(version: str) -> int | None:
    """Versions are opaque strings to clients; ours are decimal numbers. Anything else names no version."""
    return parse_position(version)


def version_json(v: BackupVersion) -> dict[str, Any]:
    return {"algorithm": v.algorithm, "auth_data": v.auth_data, "version": str(v.version),
            "etag": str(v.etag), "count": v.count}


def key_json(k: BackedUpKey) -> dict[str, Any]:
    return {"first_message_index": k.first_message_index, "forwarded_count": k.forwarded_count,
            "is_verified": k.is_verified, "session_data": k.session_data}


def should_replace(existing: BackedUpKey, new: BackedUpKey) -> bool:
    """Spec: keep the verified key; then the one with the lower first_message_index; then the one
    forwarded fewer times. On a tie the stored key stays."""
    if existing.is_verified != new.is_verified:
        return new.is_verified
    if existing.first_message_index != new.first_message_index:
        return new.first_message_index < existing.first_message_index
    return new.forwarded_count < existing.forwarded_count


class KeyBackupHandler:
    def __init__(self, store: KeyBackupStore):
        self._store = store
        # One change at a time per user: "is this the current version?" and the write that
        # depends on it must not interleave with another client's.
        self._lock = Linearizer()

    # -- versions -------------------------------------------------------------------------------

    async def create_version(self, user_id: str, algorithm: str, auth_data: dict[str, Any]) -> str:
        async with self._lock.queue(user_id):
            return str(await self._store.create_version(user_id, algorithm, auth_data))

    async def get_version(self, user_id: str, version: str | None) -> dict[str, Any]:
        """The named version, or the current one when `version` is None."""
        if version is None:
            number = await self._store.get_current_version_number(user_id)
            if number is None:
                raise not_found("No current backup version")
        else:
            number = parse_version(version)
        found = await self._store.get_version(user_id, number) if number is not None else None
        if found is None:
            raise not_found("Unknown backup version")
        return version_json(found)

    async def update_version(self, user_id: str, version: str, algorithm: str, auth_data: dict[str, Any],
                             body_version: str | None) -> None:
        async with self._lock.queue(user_id):
            number = parse_version(version)
            found = await self._store.get_version(user_id, number) if number is not None else None
            if found is None:
                raise not_found("Unknown backup version")
            if body_version is not None and body_version != version:
                raise invalid_param("The version in the body does not match the version in the path")
            if algorithm != found.algorithm:
                raise invalid_param("Algorithm does not match")
            await self._store.update_auth_data(user_id, found.version, auth_data)

    async def delete_version(self, user_id: str, version: str) -> None:
        async with self._lock.queue(user_id):
            number = parse_version(version)
            # Spec: deleting a version deleted before succeeds; one that never existed is 404.
            if number is None or not await self._store.version_existed(user_id, number):
                raise not_found("Unknown backup version")
            await self._store.delete_version(user_id, number)

    # -- keys -----------------------------------------------------------------------------------

    async def put_keys(self, user_id: str, version: str, keys: list[BackedUpKey]) -> dict[str, Any]:
        """Store `keys` in the current version, each unless the stored key for its session is better."""
        async with self._lock.queue(user_id):
            current = await self._store.get_current_version_number(user_id)
            if current is None:
                raise not_found("Unknown backup version")
            if parse_version(version) != current:
                raise MatrixError(403, WRONG_ROOM_KEYS_VERSION, "Wrong backup version.",
                                  current_version=str(current))
            # The same session twice in one request: the better of the two counts.
            best: dict[tuple[str, str], BackedUpKey] = {}
            for key in keys:
                seen = best.get((key.room_id, key.session_id))
                if seen is None or should_replace(seen, key):
                    best[(key.room_id, key.session_id)] = key
            stored = await self._store.get_keys_for_sessions(user_id, current, list(best))
            changes = [k for s, k in best.items() if s not in stored or should_replace(stored[s], k)]
            etag, count = await self._store.put_keys(user_id, current, changes)
            return {"etag": str(etag), "count": count}

    async def get_keys(self, user_id: str, version: str, room_id: str | None = None,
                       session_id: str | None = None) -> list[BackedUpKey]:
        number = await self._existing_version(user_id, version)
        return await self._store.get_keys(user_id, number, room_id, session_id)

    async def delete_keys(self, user_id: str, version: str, room_id: str | None = None,
                          session_id: str | None = None) -> dict[str, Any]:
        async with self._lock.queue(user_id):
            number = await self._existing_version(user_id, version)
            etag, count = await self._store.delete_keys(user_id, number, room_id, session_id)
            return {"etag": str(etag), "count": count}

    async def _existing_version(self, user_id: str, version: str) -> int:
        number = parse_version(version)
        if number is None or await self._store.get_version(user_id, number) is None:
            raise not_found("Unknown backup version")
        return number
