"""Profiles (displayname, avatar_url, m.tz and custom fields) and account data."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden, not_found
from homeserver.api.identifiers import UserID
from homeserver.clock import Clock
from homeserver.config import Config
from homeserver.federation.api import FederationApi
from homeserver.federation.client import DestinationRefused, FederationClientError, FederationError
from homeserver.handlers.events import EventCreationHandler
from homeserver.notifier import Notifier
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.events import EventsStore
from homeserver.storage.users import UsersStore

logger = logging.getLogger(__name__)

FIELD_NAME = re.compile(r"avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
MAX_PROFILE_BYTES = 64 * 1024
MAX_KEY_BYTES = 255
MAX_DISPLAYNAME = 256
SERVER_MANAGED_ACCOUNT_DATA = ("m.fully_read", "m.push_rules")
REMOTE_PROFILE_CACHE_MS = 5 * 60 * 1000
MAX_REMOTE_PROFILES = 10_000
MAX_REMOTE_FIELDS = 50
MAX_REMOTE_VALUE = 4096  # characters (a field's JSON for custom fields)


class ProfileHandler:
    def __init__(self, config: Config, users: UsersStore, account_data: AccountDataStore, events: EventsStore,
                 creator: EventCreationHandler, federation: FederationApi | None = None, clock: Clock | None = None):
        self._server_name = config.server_name
        self._federation = federation
        self._clock = clock
        # user_id -> (until ms, profile): other servers' users' profiles, kept a few minutes.
        self._remote: dict[str, tuple[int, dict[str, Any]]] = {}
        self._require_auth = config.require_auth_for_profile_requests
        self._limit_to_shared_rooms = config.limit_profile_requests_to_users_who_share_rooms
        self._users = users
        self._account_data = account_data
        self._events = events
        self._creator = creator

    async def check_profile_query_allowed(self, requester: str | None, user_id: str) -> None:
        """Whether `requester` (None: a request without a token) may read `user_id`'s profile:
        anyone by default (the spec needs no token), unless the operator asks for a token, or for a
        joined room in common. Everyone may read their own profile."""
        if requester is None and self._require_auth:
            raise MatrixError(401, Codes.MISSING_TOKEN, "Profile lookups need an access token on this server")
        if not self._limit_to_shared_rooms or requester == user_id:
            return
        if requester is not None:
            mine = set(await self._events.get_rooms_for_user(requester))
            if mine and mine.intersection(await self._events.get_rooms_for_user(user_id)):
                return
        raise forbidden("You do not share a room with this user")

    async def get_visible_profile(self, requester: str | None, user_id: str) -> dict[str, Any]:
        await self.check_profile_query_allowed(requester, user_id)
        if UserID.parse(user_id).domain != self._server_name:
            return await self._remote_profile(user_id)
        return await self.get_profile(user_id)

    async def get_visible_field(self, requester: str | None, user_id: str, field: str) -> dict[str, Any]:
        await self.check_profile_query_allowed(requester, user_id)
        if UserID.parse(user_id).domain != self._server_name:
            profile = await self._remote_profile(user_id)
            if field not in profile:
                raise not_found(f"Profile field {field} not set")
            return {field: profile[field]}
        return await self.get_field(user_id, field)

    async def _remote_profile(self, user_id: str) -> dict[str, Any]:
        """Another server's user's profile, asked of their server (/query/profile), kept a few
        minutes: 404 as their server says, 502 when it cannot be reached or answers nonsense."""
        if self._federation is None or self._clock is None:
            raise not_found("Profile not found")
        now = self._clock.time_msec()
        cached = self._remote.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        domain = UserID.parse(user_id).domain
        try:
            answer = await self._federation.query_profile(domain, user_id)
        except FederationError as e:
            if e.code == 404:
                raise not_found("Profile not found") from None
            if e.code in (400, 403) and e.errcode:
                raise MatrixError(e.code, e.errcode, e.error or "The user's server refused") from None
            raise MatrixError(502, Codes.UNKNOWN, "The user's server failed to answer") from None
        except DestinationRefused as e:
            raise e.as_matrix_error() from None
        except FederationClientError:
            raise MatrixError(502, Codes.UNKNOWN, "The user's server could not be reached") from None
        if not isinstance(answer, dict):
            raise MatrixError(502, Codes.UNKNOWN, "The user's server answered nonsense")
        profile = {k: v for k, v in list(answer.items())[:MAX_REMOTE_FIELDS]
                   if isinstance(k, str) and FIELD_NAME.fullmatch(k) and (
                       isinstance(v, str) and len(v) <= MAX_REMOTE_VALUE if k in ("displayname", "avatar_url")
                       else isinstance(v, (str, int, bool, dict, list)) and len(json.dumps(v)) <= MAX_REMOTE_VALUE)}
        if len(self._remote) > MAX_REMOTE_PROFILES:
            self._remote = {u: c for u, c in self._remote.items() if c[0] > now}
            if len(self._remote) > MAX_REMOTE_PROFILES:
                self._remote.clear()
        self._remote[user_id] = (now + REMOTE_PROFILE_CACHE_MS, profile)
        return profile

    async def get_profile(self, user_id: str) -> dict[str, Any]:
        uid = UserID.parse(user_id)
        if uid.domain != self._server_name or not await self._users.user_exists(user_id):
            raise not_found("Profile not found")
        return {**await self._account_data.get_profile_fields(user_id), **await self._users.get_profile(user_id)}

    async def get_field(self, user_id: str, field: str) -> dict[str, Any]:
        profile = await self.get_profile(user_id)
        if field not in profile:
            raise not_found(f"Profile field {field} not set")
        return {field: profile[field]}

    async def set_field(self, requester: str, user_id: str, field: str, value: Any) -> None:
        self._check_owner(requester, user_id)
        if len(field.encode()) > MAX_KEY_BYTES:
            raise MatrixError(400, "M_KEY_TOO_LARGE", "Profile key too long")
        if not FIELD_NAME.fullmatch(field):
            raise MatrixError(400, Codes.INVALID_PARAM, f"Invalid profile field name {field!r}")
        if field == "displayname":
            if not isinstance(value, str) or len(value) > MAX_DISPLAYNAME:
                raise MatrixError(400, Codes.INVALID_PARAM, f"displayname must be a string of at most "
                                                            f"{MAX_DISPLAYNAME} characters")
        elif field == "avatar_url":
            if not isinstance(value, str) or not (value.startswith("mxc://") or value == ""):
                raise MatrixError(400, Codes.INVALID_PARAM, "avatar_url must be an mxc:// URI")
        elif field == "m.tz" and not isinstance(value, str):
            raise MatrixError(400, Codes.INVALID_PARAM, "m.tz must be a string")
        profile = await self.get_profile(user_id)
        profile[field] = value
        if len(json.dumps(profile).encode()) > MAX_PROFILE_BYTES:
            raise MatrixError(400, "M_PROFILE_TOO_LARGE", "The profile would exceed 64 KiB")
        if field in ("displayname", "avatar_url"):
            await self._users.set_profile_value(user_id, field, value or None)
            await self._update_member_events(user_id, field, value or None)
        else:
            await self._account_data.set_profile_field(user_id, field, value)

    async def delete_field(self, requester: str, user_id: str, field: str) -> None:
        self._check_owner(requester, user_id)
        await self.get_profile(user_id)
        if field in ("displayname", "avatar_url"):
            await self._users.set_profile_value(user_id, field, None)
            await self._update_member_events(user_id, field, None)
        else:
            await self._account_data.delete_profile_field(user_id, field)

    def _check_owner(self, requester: str, user_id: str) -> None:
        if requester != user_id:
            raise forbidden("You cannot change another user's profile")

    async def _update_member_events(self, user_id: str, field: str, value: str | None) -> None:
        """The profile shows in rooms through member events: send a new one in each joined room."""
        for room_id in await self._events.get_rooms_for_user(user_id):
            membership = await self._events.get_membership(room_id, user_id)
            current = await self._events.get_event(membership[1]) if membership else None
            content = dict(current.content) if current else {"membership": "join"}
            if value is None:
                content.pop(field, None)
            else:
                content[field] = value
            try:
                await self._creator.send(user_id, room_id, "m.room.member", content, user_id)
            except MatrixError as e:
                logger.info("Could not update %s's member event in %s: %s", user_id, room_id, e.msg)


class AccountDataHandler:
    def __init__(self, store: AccountDataStore, events: EventsStore, notifier: Notifier):
        self._store = store
        self._events = events
        self._notifier = notifier

    async def put(self, requester: str, user_id: str, room_id: str, data_type: str, content: dict[str, Any]) -> None:
        if requester != user_id:
            raise forbidden("Cannot add account data for other users")
        if data_type in SERVER_MANAGED_ACCOUNT_DATA:
            raise MatrixError(405, Codes.BAD_JSON, f"Cannot set {data_type} through this API")
        if room_id and await self._events.get_room_version(room_id) is None:
            raise not_found("Unknown room")
        await self._store.put(user_id, room_id, data_type, content)
        self._notifier.on_user_data(user_id)

    async def get(self, requester: str, user_id: str, room_id: str, data_type: str) -> dict[str, Any]:
        if requester != user_id:
            raise forbidden("Cannot read account data of other users")
        content = await self._store.get(user_id, room_id, data_type)
        if content is None:
            raise not_found("Account data not found")
        return content


class TagsHandler:
    """Room tags, kept as the room's `m.tag` account data (as clients read them from /sync)."""

    def __init__(self, account_data: AccountDataHandler, store: AccountDataStore):
        self._account_data = account_data
        self._store = store

    async def get_tags(self, requester: str, user_id: str, room_id: str) -> dict[str, Any]:
        if requester != user_id:
            raise forbidden("Cannot read another user's tags")
        content = await self._store.get(user_id, room_id, "m.tag") or {}
        tags = content.get("tags")
        return {"tags": tags if isinstance(tags, dict) else {}}

    async def set_tag(self, requester: str, user_id: str, room_id: str, tag: str, body: dict[str, Any]) -> None:
        if len(tag.encode()) > 255:
            raise MatrixError(400, Codes.INVALID_PARAM, "Tag too long")
        order = body.get("order")
        if order is not None and (isinstance(order, bool) or not isinstance(order, (int, float))):
            raise MatrixError(400, Codes.BAD_JSON, "'order' must be a number")
        tags = (await self.get_tags(requester, user_id, room_id))["tags"]
        tags[tag] = body
        await self._account_data.put(requester, user_id, room_id, "m.tag", {"tags": tags})

    async def delete_tag(self, requester: str, user_id: str, room_id: str, tag: str) -> None:
        tags = (await self.get_tags(requester, user_id, room_id))["tags"]
        if tags.pop(tag, None) is not None:
            await self._account_data.put(requester, user_id, room_id, "m.tag", {"tags": tags})
