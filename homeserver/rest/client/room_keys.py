"""/room_keys/version[/{version}] and /room_keys/keys[/{roomId}[/{sessionId}]] (server-side key backups)."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import not_found
from homeserver.handlers.key_backup import key_json
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    parse_json_object,
    parse_string,
)
from homeserver.storage.key_backup import BackedUpKey

MAX_INT = 2**53 - 1  # JSON's safe integers; also keeps BIGINT columns from overflowing
KEY_DATA = {
    "type": "object",
    "required": ["first_message_index", "forwarded_count", "is_verified", "session_data"],
    "properties": {
        "first_message_index": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
        "forwarded_count": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
        "is_verified": {"type": "boolean"},
        "session_data": {"type": "object"},
    },
}
ROOM_KEYS = {
    "type": "object", "required": ["sessions"],
    "properties": {"sessions": {"type": "object", "additionalProperties": KEY_DATA}},
}
KEY_DATA_BODY = Validator(KEY_DATA)
ROOM_KEYS_BODY = Validator(ROOM_KEYS)
ALL_KEYS_BODY = Validator({
    "type": "object", "required": ["rooms"],
    "properties": {"rooms": {"type": "object", "propertyNames": {"pattern": "^!"}, "additionalProperties": ROOM_KEYS}},
})
# Any algorithm name is kept (the spec defines one; clients experiment with others, e.g. MSC3270).
NEW_VERSION_BODY = Validator({
    "type": "object", "required": ["algorithm", "auth_data"],
    "properties": {"algorithm": {"type": "string", "minLength": 1}, "auth_data": {"type": "object"}},
})
UPDATE_VERSION_BODY = Validator({
    "type": "object", "required": ["algorithm", "auth_data"],
    "properties": {"algorithm": {"type": "string"}, "auth_data": {"type": "object"}, "version": {"type": "string"}},
})


def to_key(room_id: str, session_id: str, data: dict[str, Any]) -> BackedUpKey:
    return BackedUpKey(room_id, session_id, int(data["first_message_index"]), int(data["forwarded_count"]),
                       data["is_verified"], data["session_data"])


def rooms_json(keys: list[BackedUpKey]) -> dict[str, Any]:
    rooms: dict[str, Any] = {}
    for k in keys:
        rooms.setdefault(k.room_id, {"sessions": {}})["sessions"][k.session_id] = key_json(k)
    return rooms


def backup_version(request: HomeserverRequest) -> str:
    return parse_string(request, "version", required=True)  # type: ignore[return-value]


class NewVersionServlet(RestServlet):
    PATTERNS = client_patterns("/room_keys/version", releases=("r0", "v3", "unstable"))

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, NEW_VERSION_BODY)
        version = await self.hs.key_backup_handler.create_version(requester.user_id, body["algorithm"],
                                                                  body["auth_data"])
        return 200, {"version": version}

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.key_backup_handler.get_version(requester.user_id, None)


class VersionServlet(RestServlet):
    PATTERNS = client_patterns("/room_keys/version/(?P<version>[^/]+)", releases=("r0", "v3", "unstable"))

    async def on_GET(self, request: HomeserverRequest, version: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.key_backup_handler.get_version(requester.user_id, version)

    async def on_PUT(self, request: HomeserverRequest, version: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, UPDATE_VERSION_BODY)
        await self.hs.key_backup_handler.update_version(requester.user_id, version, body["algorithm"],
                                                        body["auth_data"], body.get("version"))
        return 200, {}

    async def on_DELETE(self, request: HomeserverRequest, version: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        await self.hs.key_backup_handler.delete_version(requester.user_id, version)
        return 200, {}


class AllKeysServlet(RestServlet):
    PATTERNS = client_patterns("/room_keys/keys", releases=("r0", "v3", "unstable"))

    async def on_PUT(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        version = backup_version(request)
        body = parse_json_object(request, ALL_KEYS_BODY)
        keys = [to_key(room_id, session_id, data) for room_id, room in body["rooms"].items()
                for session_id, data in room["sessions"].items()]
        return 200, await self.hs.key_backup_handler.put_keys(requester.user_id, version, keys)

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        keys = await self.hs.key_backup_handler.get_keys(requester.user_id, backup_version(request))
        return 200, {"rooms": rooms_json(keys)}

    async def on_DELETE(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.key_backup_handler.delete_keys(requester.user_id, backup_version(request))


class RoomKeysServlet(RestServlet):
    PATTERNS = client_patterns("/room_keys/keys/(?P<room_id>[^/]+)", releases=("r0", "v3", "unstable"))

    async def on_PUT(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        version = backup_version(request)
        body = parse_json_object(request, ROOM_KEYS_BODY)
        keys = [to_key(room_id, session_id, data) for session_id, data in body["sessions"].items()]
        return 200, await self.hs.key_backup_handler.put_keys(requester.user_id, version, keys)

    async def on_GET(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        keys = await self.hs.key_backup_handler.get_keys(requester.user_id, backup_version(request), room_id)
        # Spec: a room without keys is {"sessions": {}}, not an error.
        return 200, rooms_json(keys).get(room_id, {"sessions": {}})

    async def on_DELETE(self, request: HomeserverRequest, room_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.key_backup_handler.delete_keys(requester.user_id, backup_version(request),
                                                                 room_id)


class SessionKeyServlet(RestServlet):
    PATTERNS = client_patterns("/room_keys/keys/(?P<room_id>[^/]+)/(?P<session_id>[^/]+)",
                               releases=("r0", "v3", "unstable"))

    async def on_PUT(self, request: HomeserverRequest, room_id: str, session_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        version = backup_version(request)
        body = parse_json_object(request, KEY_DATA_BODY)
        return 200, await self.hs.key_backup_handler.put_keys(requester.user_id, version,
                                                              [to_key(room_id, session_id, body)])

    async def on_GET(self, request: HomeserverRequest, room_id: str, session_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        keys = await self.hs.key_backup_handler.get_keys(requester.user_id, backup_version(request), room_id,
                                                         session_id)
        if not keys:
            raise not_found("Key not found.")
        return 200, key_json(keys[0])

    async def on_DELETE(self, request: HomeserverRequest, room_id: str, session_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.key_backup_handler.delete_keys(requester.user_id, backup_version(request),
                                                                 room_id, session_id)


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (NewVersionServlet, VersionServlet, AllKeysServlet, RoomKeysServlet, SessionKeyServlet):
        router.register(servlet(hs))
