"""The admin API on media (docs/admin_api.md), with Synapse's shapes: quarantine (one item, a
room's, a user's) and release, protection from quarantine, deleting local media unused since a
date. Quarantined media are kept but served to nobody (the media repository answers 404)."""

from __future__ import annotations

import json
from typing import Any

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.api.identifiers import is_valid_server_name
from homeserver.handlers.media.repository import MediaRepository, check_media_id
from homeserver.storage.media import MediaStore
from homeserver.storage.room_admin import RoomAdminStore
from homeserver.storage.users import UsersStore

DELETE_BATCH = 1000


def mxc_uris(value: Any) -> set[str]:
    """Every mxc:// URI among the strings of a JSON value (url, thumbnail_url, file.url...)."""
    if isinstance(value, str):
        return {value} if value.startswith("mxc://") else set()
    if isinstance(value, dict):
        return set().union(*(mxc_uris(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(mxc_uris(v) for v in value)) if value else set()
    return set()


def split_mxc(uri: str) -> tuple[str, str] | None:
    server_name, _, media_id = uri[len("mxc://"):].partition("/")
    return (server_name, media_id) if server_name and media_id and "/" not in media_id else None


class MediaAdminHandler:
    def __init__(self, server_name: str, media: MediaStore, repository: MediaRepository, rooms: RoomAdminStore,
                 users: UsersStore):
        self._server_name = server_name
        self._media = media
        self._repository = repository
        self._rooms = rooms
        self._users = users

    async def _quarantine(self, uris: set[str], by: str | None) -> int:
        local, remote = [], []
        for uri in sorted(uris):
            parts = split_mxc(uri)
            if parts is None:
                continue
            if parts[0] == self._server_name:
                local.append(parts[1])
            else:
                remote.append(parts)
        return await self._media.quarantine_local(local, by) + await self._media.quarantine_remote(remote, by)

    async def quarantine(self, requester: str, server_name: str, media_id: str, quarantine: bool) -> None:
        """One item, local or a cached remote one (unknown items are accepted, as Synapse does)."""
        if not is_valid_server_name(server_name):
            raise MatrixError(400, Codes.INVALID_PARAM, f"{server_name!r} is not a server name")
        check_media_id(media_id)
        await self._quarantine({f"mxc://{server_name}/{media_id}"}, requester if quarantine else None)

    async def quarantine_room(self, requester: str, room_id: str) -> int:
        """Every media the room's events point to (ours and cached remote ones)."""
        if not room_id.startswith("!"):
            raise MatrixError(400, Codes.INVALID_PARAM, f"{room_id!r} is not a room ID")
        if not await self._rooms.room_exists(room_id):
            raise not_found("Room not found")
        uris: set[str] = set()
        for raw in await self._rooms.event_contents_with_media(room_id):
            uris |= mxc_uris(json.loads(raw).get("content"))
        return await self._quarantine(uris, requester)

    async def quarantine_user(self, requester: str, user_id: str) -> int:
        if await self._users.get_user(user_id) is None:
            raise not_found("User not found")
        media_ids = await self._media.media_ids_of_user(user_id)
        return await self._media.quarantine_local(media_ids, requester)

    async def protect(self, media_id: str, protected: bool) -> None:
        check_media_id(media_id)
        if not await self._media.set_protected(media_id, protected):
            raise not_found("Unknown media")

    async def delete_before(self, server_name: str | None, before_ts: int, size_gt: int,
                            keep_profiles: bool) -> dict[str, Any]:
        """Local media last used before `before_ts` (and bigger than `size_gt`), but protected
        media and, with `keep_profiles`, user and room avatars."""
        if server_name is not None and server_name != self._server_name:
            raise MatrixError(400, Codes.INVALID_PARAM, "Can only delete local media")
        keep: set[str] = set()
        if keep_profiles:
            for uri in await self._media.avatar_urls() | await self._rooms.room_avatar_urls():
                parts = split_mxc(uri)
                if parts is not None and parts[0] == self._server_name:
                    keep.add(parts[1])
        deleted: list[str] = []
        while batch := await self._media.deletable_before(before_ts, size_gt, keep | set(deleted), DELETE_BATCH):
            await self._repository.delete_local_media(batch)
            deleted += batch
        return {"deleted_media": deleted, "total": len(deleted)}
