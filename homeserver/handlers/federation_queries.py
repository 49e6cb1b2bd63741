"""Other servers' queries (spec: server-server "Querying for information", "Public Room
Directory"): room aliases on this server (`/query/directory`), our users' profiles
(`/query/profile`), and the published room directory (`/publicRooms`, when the operator lets
other servers list it).

Choices where the spec leaves room:
- an alias or user ID of another server is answered 404 M_NOT_FOUND, as for one we do not hold
  (the spec lists only 404; the asking server should not have asked us);
- `servers` of an alias lists this server first, then every other server with a joined member
  in the room, by name;
- profiles: `allow_profile_lookup_over_federation: false` answers 403 M_FORBIDDEN (the spec's
  option); a field the user has not set is 404 M_NOT_FOUND; a field name that cannot be a
  profile key is 400 M_INVALID_PARAM. `limit_profile_requests_to_users_who_share_rooms` and
  `require_auth_for_profile_requests` concern this server's clients, not other servers."""

from __future__ import annotations

import logging
from typing import Any

from homeserver.api.errors import MatrixError, forbidden, invalid_param, not_found
from homeserver.api.identifiers import UserID
from homeserver.handlers.directory import DirectoryHandler, parse_alias
from homeserver.handlers.profile import FIELD_NAME, MAX_KEY_BYTES, ProfileHandler
from homeserver.storage.events import EventsStore

logger = logging.getLogger(__name__)


class FederationQueryHandler:
    def __init__(self, server_name: str, directory: DirectoryHandler, profiles: ProfileHandler, events: EventsStore,
                 allow_public_rooms: bool, allow_profile_lookup: bool):
        self._server_name = server_name
        self._directory = directory
        self._profiles = profiles
        self._events = events
        self._allow_public_rooms = allow_public_rooms
        self._allow_profile_lookup = allow_profile_lookup

    async def query_directory(self, origin: str, alias: str) -> dict[str, Any]:
        """{room_id, servers} for one of our aliases; 400 for a malformed alias, 404 otherwise."""
        _, domain = parse_alias(alias)
        if domain != self._server_name:
            raise not_found(f"Room alias {alias} is not on this server.")
        return await self._directory.resolve_alias(alias)

    async def query_profile(self, origin: str, user_id: str, field: str | None) -> dict[str, Any]:
        uid = UserID.parse(user_id)
        if field is not None and (len(field.encode("utf-8")) > MAX_KEY_BYTES or not FIELD_NAME.fullmatch(field)):
            raise invalid_param(f"Invalid profile field name {field!r}")
        if not self._allow_profile_lookup:
            raise forbidden("Profile lookup over federation is disabled on this server")
        if uid.domain != self._server_name:
            raise not_found("User is not on this server")
        if field is None:
            return await self._profiles.get_profile(user_id)
        return await self._profiles.get_field(user_id, field)

    def check_public_rooms_allowed(self) -> None:
        """403 M_FORBIDDEN unless `allow_public_rooms_over_federation` (before a body is looked at)."""
        if not self._allow_public_rooms:
            raise MatrixError(403, "M_FORBIDDEN", "This server does not list its public rooms over federation")

    async def public_rooms(self, origin: str, limit: int | None, since: str | None, search_term: str | None = None,
                           room_types: list[str | None] | None = None, include_all_networks: bool = False,
                           third_party_instance_id: str | None = None) -> dict[str, Any]:
        """Our published room directory, to another server: 403 unless
        `allow_public_rooms_over_federation`. Limit 0 means no limit (the spec), i.e. the largest
        page we serve."""
        self.check_public_rooms_allowed()
        if third_party_instance_id is not None and not include_all_networks:
            # No application service networks exist here: a named one has no rooms.
            return {"chunk": [], "total_room_count_estimate": 0}
        return await self._directory.get_public_rooms(limit or None, since, search_term, room_types)
