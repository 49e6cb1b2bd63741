"""The admin API on users (docs/admin_api.md), with Synapse's shapes: list and query accounts,
create or modify one, deactivate, reset a password, the admin flag, devices, media, logging in as a
user, shadow-banning, locking and suspending."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.api.identifiers import UserID, check_new_localpart
from homeserver.clock import Clock
from homeserver.handlers.account import AccountHandler
from homeserver.handlers.devices import DeviceHandler
from homeserver.handlers.media.repository import MediaRepository
from homeserver.handlers.passwords import PasswordHandler
from homeserver.handlers.profile import ProfileHandler
from homeserver.handlers.pushers import PusherHandler
from homeserver.handlers.registration import RegistrationHandler
from homeserver.handlers.sessions import SessionHandler
from homeserver.handlers.threepids import ThreepidHandler
from homeserver.storage.account_data import AccountDataStore
from homeserver.storage.devices import DevicesStore
from homeserver.storage.events import EventsStore
from homeserver.storage.user_admin import UserAdminStore, UserFilter
from homeserver.storage.users import UserRecord, UsersStore

ADMIN_LOGIN_DEVICE_NAME = "Admin API login"


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int
    order_by: str
    backwards: bool


def paged(items_key: str, items: list[Any], total: int, page: Page) -> dict[str, Any]:
    """Synapse's page shape: the items, `total`, and `next_token` (the next offset) when more follow."""
    body: dict[str, Any] = {items_key: items, "total": total}
    if page.offset + len(items) < total and items:
        body["next_token"] = page.offset + len(items)
    return body


class UserAdminHandler:
    def __init__(self, server_name: str, clock: Clock, users: UsersStore, user_admin: UserAdminStore,
                 passwords: PasswordHandler, accounts: AccountHandler, profiles: ProfileHandler,
                 sessions: SessionHandler, devices: DevicesStore, device_handler: DeviceHandler,
                 events: EventsStore, media: MediaRepository, pushers: PusherHandler,
                 account_data: AccountDataStore, registration: RegistrationHandler, threepids: ThreepidHandler):
        self._server_name = server_name
        self._clock = clock
        self._users = users
        self._user_admin = user_admin
        self._passwords = passwords
        self._accounts = accounts
        self._profiles = profiles
        self._sessions = sessions
        self._devices = devices
        self._device_handler = device_handler
        self._events = events
        self._media = media
        self._pushers = pushers
        self._account_data = account_data
        self._registration = registration
        self._threepids = threepids

    # -- lookups ----------------------------------------------------------------------------------

    def check_local(self, user_id: str) -> str:
        """A well-formed user ID of this server (400 otherwise, as Synapse answers)."""
        uid = UserID.parse(user_id)
        if uid.domain != self._server_name:
            raise MatrixError(400, Codes.INVALID_PARAM, "Can only look up local users")
        return user_id

    async def existing_user(self, user_id: str) -> UserRecord:
        """The local user, or 404 M_NOT_FOUND."""
        self.check_local(user_id)
        user = await self._users.get_user(user_id)
        if user is None:
            raise not_found("User not found")
        return user

    async def list_users(self, user_filter: UserFilter, page: Page) -> dict[str, Any]:
        users, total = await self._user_admin.list_users(user_filter, page.order_by, page.backwards, page.offset,
                                                         page.limit)
        body = paged("users", users, total, page)
        if "next_token" in body:
            body["next_token"] = str(body["next_token"])  # a string in Synapse's user listing
        return body

    async def user_details(self, user_id: str) -> dict[str, Any]:
        self.check_local(user_id)
        details = await self._user_admin.get_user(user_id)
        if details is None:
            raise not_found("User not found")
        threepids = [{"medium": t.medium, "address": t.address, "added_at": t.added_at,
                      "validated_at": t.validated_at} for t in await self._threepids.list_threepids(user_id)]
        return {**details, "threepids": threepids, "external_ids": [], "appservice_id": None,
                "consent_server_notice_sent": None, "consent_version": None, "consent_ts": None}

    # -- create or modify -------------------------------------------------------------------------

    async def upsert_user(self, requester: str, user_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """PUT /v2/users/<user_id>: 201 and the new account, or 200 and the changed one. Every check
        runs before the first change."""
        self.check_local(user_id)
        threepids = None
        if body.get("threepids") is not None:
            threepids = await self._threepids.checked_for_admin(user_id, body["threepids"])
        if body.get("external_ids"):
            raise MatrixError(400, Codes.INVALID_PARAM, "This server has no single sign-on: external_ids must be []")
        password = body.get("password")
        if password is not None:
            if not self._passwords.enabled:
                raise MatrixError(403, Codes.FORBIDDEN, "Passwords are disabled on this server")
            self._passwords.check_policy(password)
        avatar_url = body.get("avatar_url")
        if avatar_url and not avatar_url.startswith("mxc://"):
            raise MatrixError(400, Codes.INVALID_PARAM, "avatar_url must be an mxc:// URI")
        user = await self._users.get_user(user_id)
        if user is None:
            await self._create(user_id, body, password)
            if threepids is not None:
                await self._threepids.set_by_admin(user_id, threepids)
            return 201, await self.user_details(user_id)
        if user_id == requester and body.get("admin") is False:
            raise MatrixError(400, Codes.INVALID_PARAM, "You may not demote yourself")
        if user_id == requester and (body.get("deactivated") is True or body.get("locked") is True):
            raise MatrixError(400, Codes.INVALID_PARAM, "You may not deactivate or lock yourself here")
        if body.get("deactivated") is False and user.deactivated and password is None \
                and self._passwords.enabled:
            raise MatrixError(400, Codes.MISSING_PARAM, "A password is needed to reactivate a user")
        await self._modify(user, body, password)
        if threepids is not None:
            await self._threepids.set_by_admin(user_id, threepids)
        return 200, await self.user_details(user_id)

    async def _create(self, user_id: str, body: dict[str, Any], password: str | None) -> dict[str, Any]:
        localpart = UserID.parse(user_id).localpart
        check_new_localpart(localpart, self._server_name)
        password_hash = await self._passwords.hash(password) if password is not None else None
        displayname = body.get("displayname") or localpart
        if not await self._users.create_user(user_id, password_hash, self._clock.time_msec(),
                                             bool(body.get("admin", False)), body.get("user_type"), displayname):
            raise MatrixError(400, Codes.USER_IN_USE, "User ID already taken.")
        if body.get("avatar_url"):
            await self._users.set_profile_value(user_id, "avatar_url", body["avatar_url"])
        if body.get("locked"):
            await self._users.set_account_flag(user_id, "locked", True)
        if body.get("deactivated"):
            await self._accounts.deactivate(user_id)
        return await self.user_details(user_id)

    async def _modify(self, user: UserRecord, body: dict[str, Any], password: str | None) -> None:
        user_id = user.user_id
        if password is not None and not body.get("deactivated") and not user.deactivated:
            await self._accounts.change_password(user_id, None, password, body.get("logout_devices", True))
        for field in ("displayname", "avatar_url"):
            if field in body and body[field] != (await self._users.get_profile(user_id)).get(field):
                if body[field]:
                    await self._profiles.set_field(user_id, user_id, field, body[field])
                else:
                    await self._profiles.delete_field(user_id, user_id, field)
        if "admin" in body and body["admin"] != user.admin:
            await self._users.set_admin(user_id, body["admin"])
        if "user_type" in body:
            await self._users.set_user_type(user_id, body["user_type"])
        if "locked" in body:
            await self._users.set_account_flag(user_id, "locked", body["locked"])
        if body.get("deactivated") is True and not user.deactivated:
            await self._accounts.deactivate(user_id)
        elif body.get("deactivated") is False and user.deactivated:
            password_hash = await self._passwords.hash(password) if password is not None else None
            await self._users.reactivate(user_id, password_hash)

    # -- account actions --------------------------------------------------------------------------

    async def deactivate(self, requester: str, user_id: str, erase: bool) -> None:
        user = await self.existing_user(user_id)
        if user.deactivated and not erase:
            return
        await self._accounts.deactivate(user_id, erase=erase)

    async def reset_password(self, user_id: str, new_password: str, logout_devices: bool) -> None:
        user = await self.existing_user(user_id)
        if user.deactivated:
            raise MatrixError(400, Codes.INVALID_PARAM, "The user is deactivated")
        await self._accounts.change_password(user_id, None, new_password, logout_devices)

    async def is_admin(self, user_id: str) -> bool:
        return (await self.existing_user(user_id)).admin

    async def set_admin(self, requester: str, user_id: str, admin: bool) -> None:
        await self.existing_user(user_id)
        if user_id == requester and not admin:
            raise MatrixError(400, Codes.INVALID_PARAM, "You may not demote yourself")
        await self._users.set_admin(user_id, admin)

    async def set_flag(self, user_id: str, flag: str, value: bool) -> None:
        """shadow_banned or suspended."""
        await self.existing_user(user_id)
        await self._users.set_account_flag(user_id, flag, value)

    async def suspend(self, requester: str, user_id: str, suspend: bool) -> None:
        if user_id == requester and suspend:
            raise MatrixError(400, Codes.INVALID_PARAM, "You may not suspend yourself")
        await self.set_flag(user_id, "suspended", suspend)

    async def login_as(self, requester: str, user_id: str, valid_until_ms: int | None) -> dict[str, Any]:
        """A new device of the user (named "Admin API login") with an access token: unlike
        Synapse's, the session shows in the user's device list, and ends when they log it out."""
        user = await self.existing_user(user_id)
        if user_id == requester:
            raise MatrixError(400, Codes.INVALID_PARAM, "Cannot use admin API to login as self")
        if user.deactivated:
            raise MatrixError(400, Codes.INVALID_PARAM, "The user is deactivated")
        if valid_until_ms is not None and valid_until_ms <= self._clock.time_msec():
            raise MatrixError(400, Codes.INVALID_PARAM, "valid_until_ms is in the past")
        session = await self._sessions.create_session(user_id, None, ADMIN_LOGIN_DEVICE_NAME, False,
                                                      expires_at_ms=valid_until_ms)
        return {"access_token": session["access_token"]}

    async def joined_rooms(self, user_id: str) -> dict[str, Any]:
        self.check_local(user_id)
        await self.existing_user(user_id)
        rooms = sorted(await self._events.get_rooms_for_user(user_id))
        return {"joined_rooms": rooms, "total": len(rooms)}

    async def memberships(self, user_id: str) -> dict[str, Any]:
        await self.existing_user(user_id)
        current = await self._events.get_current_memberships(user_id)
        return {"memberships": {room_id: membership for room_id, (membership, _) in sorted(current.items())}}

    async def whois(self, user_id: str) -> dict[str, Any]:
        await self.existing_user(user_id)
        return await self._device_handler.whois(user_id)

    # -- devices ----------------------------------------------------------------------------------

    async def list_devices(self, user_id: str) -> dict[str, Any]:
        await self.existing_user(user_id)
        agents = await self._devices.get_last_connections(user_id)
        devices = [self._device_json(user_id, d, agents) for d in await self._device_handler.list_devices(user_id)]
        return {"devices": devices, "total": len(devices)}

    async def get_device(self, user_id: str, device_id: str) -> dict[str, Any]:
        await self.existing_user(user_id)
        agents = await self._devices.get_last_connections(user_id)
        return self._device_json(user_id, await self._device_handler.get_device(user_id, device_id), agents)

    @staticmethod
    def _device_json(user_id: str, device: dict[str, Any], agents: dict[str, Any]) -> dict[str, Any]:
        last = agents.get(device["device_id"])
        return {**device, "user_id": user_id, "last_seen_user_agent": last[2] if last else None,
                "dehydrated": False}

    async def create_device(self, user_id: str, device_id: str) -> None:
        user = await self.existing_user(user_id)
        if user.deactivated:
            raise MatrixError(400, Codes.INVALID_PARAM, "The user is deactivated")
        await self._devices.ensure_device(user_id, device_id, None)

    async def rename_device(self, user_id: str, device_id: str, display_name: str | None) -> None:
        await self.existing_user(user_id)
        await self._device_handler.rename(user_id, device_id, display_name)

    async def delete_devices(self, user_id: str, device_ids: list[str]) -> None:
        """Unknown device IDs are skipped (Synapse answers 200 for them too)."""
        await self.existing_user(user_id)
        await self._device_handler.delete(user_id, device_ids)

    # -- media ------------------------------------------------------------------------------------

    async def list_media(self, user_id: str, page: Page) -> dict[str, Any]:
        await self.existing_user(user_id)
        media, total = await self._user_admin.list_user_media(user_id, page.order_by, page.backwards, page.offset,
                                                              page.limit)
        return paged("media", media, total, page)

    async def delete_media(self, user_id: str, page: Page) -> dict[str, Any]:
        """One page of the user's media (in the listing's order) deleted."""
        await self.existing_user(user_id)
        media, _ = await self._user_admin.list_user_media(user_id, page.order_by, page.backwards, page.offset,
                                                          page.limit)
        media_ids = [m["media_id"] for m in media]
        await self._media.delete_local_media(media_ids)
        return {"deleted_media": media_ids, "total": len(media_ids)}

    async def media_statistics(self, from_ts: int, until_ts: int | None, search: str | None,
                               page: Page) -> dict[str, Any]:
        users, total = await self._user_admin.media_statistics(from_ts, until_ts, search, page.order_by,
                                                               page.backwards, page.offset, page.limit)
        return paged("users", users, total, page)

    # -- other reads ------------------------------------------------------------------------------

    async def pushers(self, user_id: str) -> dict[str, Any]:
        await self.existing_user(user_id)
        pushers = await self._pushers.get_pushers(user_id)
        return {"pushers": pushers, "total": len(pushers)}

    async def account_data(self, user_id: str) -> dict[str, Any]:
        await self.existing_user(user_id)
        data = await self._account_data.get_changes(user_id, None, self._account_data.stream.current)
        return {"account_data": {"global": data.pop("", {}), "rooms": data}}

    async def username_available(self, username: str) -> dict[str, Any]:
        """As the client's /register/available, whether registration is open or not."""
        await self._registration.check_username(username)
        return {"available": True}
