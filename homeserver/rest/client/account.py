"""/account/whoami, /account/password, /account/deactivate, /account/3pid."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import forbidden
from homeserver.handlers.threepids import PASSWORD_RESET
from homeserver.handlers.uia import EMAIL_IDENTITY, PASSWORD
from homeserver.rest.client.threepid import medium_not_supported
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    operation_path,
    parse_json_object,
)

PASSWORD_BODY = Validator({
    "type": "object",
    "required": ["new_password"],
    "properties": {
        "new_password": {"type": "string", "maxLength": 512},
        "logout_devices": {"type": "boolean"},
        "auth": {"type": "object"},
    },
})
DEPRECATED_ADD_BODY = Validator({
    "type": "object",
    "required": ["three_pid_creds"],
    "properties": {"three_pid_creds": {"type": "object"}, "bind": {"type": "boolean"}},
})
DEACTIVATE_BODY = Validator({
    "type": "object",
    "properties": {"auth": {"type": "object"}, "id_server": {"type": "string"}, "erase": {"type": "boolean"}},
})


class WhoamiServlet(RestServlet):
    PATTERNS = client_patterns("/account/whoami")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, {"user_id": requester.user_id, "device_id": requester.device_id,
                     "is_guest": requester.is_guest}


class PasswordServlet(RestServlet):
    PATTERNS = client_patterns("/account/password")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        # Without an access token, the password stage names the user (spec: security {}).
        requester = await self.optional_auth(request)
        body = parse_json_object(request, PASSWORD_BODY)
        self.hs.passwords.check_policy(body["new_password"])
        # A forgotten password: the e-mail stage proves the account by an address bound to it.
        flows = [[PASSWORD], [EMAIL_IDENTITY]] if self.hs.threepid_handler.email_enabled else [[PASSWORD]]
        uia = self.hs.uia_handler
        session_id, _, user_id = await uia.check(
            body, "POST", operation_path(request), flows, requester.user_id if requester else None
        )
        email = await uia.completed_stage(session_id, EMAIL_IDENTITY)
        if isinstance(email, dict) and email.get("purpose") != PASSWORD_RESET:
            raise forbidden("That e-mail validation was not started for a password reset")
        await self.hs.account_handler.change_password(
            user_id, requester.device_id if requester else None, body["new_password"],
            body.get("logout_devices", True),
        )
        if isinstance(email, dict):
            await self.hs.threepid_handler.use_up(email["sid"])
        await uia.finish(session_id)
        return 200, {}


class DeactivateServlet(RestServlet):
    PATTERNS = client_patterns("/account/deactivate")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.optional_auth(request)
        body = parse_json_object(request, DEACTIVATE_BODY, allow_empty=True)
        session_id, _, user_id = await self.hs.uia_handler.check(
            body, "POST", operation_path(request), [[PASSWORD]], requester.user_id if requester else None
        )
        await self.hs.account_handler.deactivate(user_id, erase=body.get("erase") is True)
        await self.hs.uia_handler.finish(session_id)
        return 200, {"id_server_unbind_result": "no-support"}


class ThreepidServlet(RestServlet):
    PATTERNS = client_patterns("/account/3pid")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        threepids = await self.hs.threepid_handler.list_threepids(requester.user_id)
        return 200, {"threepids": [{"medium": t.medium, "address": t.address, "validated_at": t.validated_at,
                                    "added_at": t.added_at} for t in threepids]}

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        """The deprecated way to add (and bind) a 3PID: see rest/client/threepid.py."""
        await self.auth(request)
        parse_json_object(request, DEPRECATED_ADD_BODY)
        # Adding needs user-interactive auth, which this deprecated form has no room for.
        raise medium_not_supported("Use /account/3pid/add to add an address (identity servers are not used)")


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (WhoamiServlet, PasswordServlet, DeactivateServlet, ThreepidServlet):
        router.register(servlet(hs))
