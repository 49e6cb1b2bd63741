"""Pushers: GET /pushers and POST /pushers/set (create, update, delete), checked before anything
changes. A pusher belongs to the device that set it up and goes when that device is logged out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from homeserver.api.errors import Codes, MatrixError, invalid_param
from homeserver.clock import Clock
from homeserver.outbound.endpoint import literal_address
from homeserver.outbound.ranges import IpRangePolicy
from homeserver.storage.events import EventsStore
from homeserver.storage.pushers import PusherRecord, PushersStore
from homeserver.util.linearizer import Linearizer

MAX_APP_ID_LENGTH = 64  # characters
MAX_PUSHKEY_BYTES = 512
NOTIFY_PATH = "/_matrix/push/v1/notify"
KINDS = ("http", "email")
REQUIRED_TO_SET = ("app_display_name", "device_display_name", "lang", "data")


def _check_string(body: dict[str, Any], key: str) -> str:
    value = body[key]
    if not isinstance(value, str):
        raise invalid_param(f"'{key}' must be a string")
    return value


def check_gateway_url(url: Any, policy: IpRangePolicy | None = None) -> str:
    """An http(s) URL with a host and a path ending in /_matrix/push/v1/notify; a host that is an
    IP address must be one `policy` allows (a name is checked at each delivery, when resolved)."""
    if not isinstance(url, str):
        raise invalid_param("'data.url' must be a string")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise invalid_param("'data.url' is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid_param("'data.url' must be an https:// (or http://) URL")
    if not parts.path.endswith(NOTIFY_PATH) or parts.fragment:
        raise invalid_param(f"'data.url' must be the push gateway's URL ending in {NOTIFY_PATH}")
    address = literal_address(parts.hostname)
    if policy is not None and address is not None and not policy.allows(address):
        raise invalid_param("'data.url' points at an address this server does not send push notifications to")
    return url


def pusher_json(record: PusherRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "pushkey": record.pushkey, "kind": record.kind, "app_id": record.app_id,
        "app_display_name": record.app_display_name, "device_display_name": record.device_display_name,
        "lang": record.lang, "data": record.data,
    }
    if record.profile_tag is not None:
        out["profile_tag"] = record.profile_tag
    return out


class PusherHandler:
    def __init__(self, clock: Clock, store: PushersStore, events: EventsStore,
                 gateway_policy: IpRangePolicy | None = None, email_owner: Any = None):
        # (medium, address) -> the account it is bound to, when e-mail notifications are on; else None.
        self._email_owner = email_owner
        self._clock = clock
        self._gateway_policy = gateway_policy
        self._store = store
        self._events = events
        self._lock = Linearizer()
        # Called with the new or updated pusher after its commit (the pusher pool listens).
        self.set_listeners: list[Callable[[PusherRecord], None]] = []

    async def get_pushers(self, user_id: str) -> list[dict[str, Any]]:
        return [pusher_json(r) for r in await self._store.get_pushers(user_id)]

    async def set_pusher(self, user_id: str, device_id: str | None, body: dict[str, Any]) -> None:
        missing = [k for k in ("kind", "app_id", "pushkey") if k not in body]
        if missing:
            raise MatrixError(400, Codes.MISSING_PARAM, f"Missing parameters: {', '.join(missing)}")
        app_id = _check_string(body, "app_id")
        pushkey = _check_string(body, "pushkey")
        if not app_id or len(app_id) > MAX_APP_ID_LENGTH:
            raise invalid_param(f"'app_id' must be 1 to {MAX_APP_ID_LENGTH} characters long")
        if not pushkey or len(pushkey.encode("utf-8")) > MAX_PUSHKEY_BYTES:
            raise invalid_param(f"'pushkey' must be 1 to {MAX_PUSHKEY_BYTES} bytes long")
        kind = body["kind"]
        if kind is None:
            async with self._lock.queue(user_id):
                await self._store.delete_pusher(user_id, app_id, pushkey)
            return
        if not isinstance(kind, str) or kind not in KINDS:
            raise invalid_param("'kind' must be \"http\", \"email\" or null")
        fields = self._check_fields(body)
        if kind == "email":
            # The pushkey of an email pusher is one of the account's own e-mail addresses, and only
            # a server that sends notification mails (email.enable_notifs) keeps such pushers.
            if self._email_owner is None or await self._email_owner("email", pushkey) != user_id:
                raise MatrixError(400, Codes.THREEPID_NOT_FOUND, "That email address is not bound to your account"
                                  if self._email_owner is not None else "This server sends no notification mails")
            pushkey = pushkey.strip().lower()
        elif "url" not in fields["data"]:
            raise MatrixError(400, Codes.MISSING_PARAM, "Missing parameter: data.url (needed by http pushers)")
        if kind == "http":
            check_gateway_url(fields["data"]["url"], self._gateway_policy)
        append = body.get("append", False)
        if not isinstance(append, bool):
            raise invalid_param("'append' must be a boolean")
        async with self._lock.queue(user_id):
            record = await self._store.set_pusher(
                user_id, device_id, kind, app_id, pushkey, fields["app_display_name"],
                fields["device_display_name"], fields["profile_tag"], fields["lang"], fields["data"],
                self._clock.time_msec(), self._events.stream.current, remove_others=not append)
        for listener in self.set_listeners:
            listener(record)

    @staticmethod
    def _check_fields(body: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in REQUIRED_TO_SET if k not in body]
        if missing:
            raise MatrixError(400, Codes.MISSING_PARAM, f"Missing parameters: {', '.join(missing)}")
        fields: dict[str, Any] = {k: _check_string(body, k) for k in ("app_display_name", "device_display_name",
                                                                       "lang")}
        if not isinstance(body["data"], dict):
            raise invalid_param("'data' must be an object")
        fields["data"] = body["data"]
        if "format" in body["data"] and not isinstance(body["data"]["format"], str):
            raise invalid_param("'data.format' must be a string")
        profile_tag = body.get("profile_tag")
        if profile_tag is not None and not isinstance(profile_tag, str):
            raise invalid_param("'profile_tag' must be a string")
        fields["profile_tag"] = profile_tag
        return fields
