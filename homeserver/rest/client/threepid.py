"""Third-party identifiers (email addresses, phone numbers): the requestToken endpoints, and
adding, binding, unbinding and deleting 3PIDs.

This server sends no email or SMS and talks to no identity server, so no 3PID can be validated
or bound (`m.3pid_changes` is off in /capabilities). Each endpoint still answers as the spec
says a server without that support does: a clear error, or for the removals (of 3PIDs an
account cannot have) success with `id_server_unbind_result: no-support`."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.ratelimit import check_all
from homeserver.rest.http import HomeserverRequest, RestServlet, Validator, client_patterns, parse_json_object

EMAIL_TOKEN_BODY = Validator({
    "type": "object",
    "required": ["client_secret", "email", "send_attempt"],
    "properties": {"client_secret": {"type": "string"}, "email": {"type": "string"},
                   "send_attempt": {"type": "integer"}, "next_link": {"type": "string"},
                   "id_server": {"type": "string"}, "id_access_token": {"type": "string"}},
})
MSISDN_TOKEN_BODY = Validator({
    "type": "object",
    "required": ["client_secret", "country", "phone_number", "send_attempt"],
    "properties": {"client_secret": {"type": "string"}, "country": {"type": "string"},
                   "phone_number": {"type": "string"}, "send_attempt": {"type": "integer"},
                   "next_link": {"type": "string"}, "id_server": {"type": "string"},
                   "id_access_token": {"type": "string"}},
})
ADD_BODY = Validator({
    "type": "object",
    "required": ["client_secret", "sid"],
    "properties": {"client_secret": {"type": "string"}, "sid": {"type": "string"}, "auth": {"type": "object"}},
})
BIND_BODY = Validator({
    "type": "object",
    "required": ["client_secret", "id_access_token", "id_server", "sid"],
    "properties": {"client_secret": {"type": "string"}, "id_access_token": {"type": "string"},
                   "id_server": {"type": "string"}, "sid": {"type": "string"}},
})
REMOVE_BODY = Validator({
    "type": "object",
    "required": ["address", "medium"],
    "properties": {"address": {"type": "string"}, "medium": {"enum": ["email", "msisdn"]},
                   "id_server": {"type": "string"}},
})
NO_EMAIL = "This server does not send email, so it cannot validate email addresses"
NO_SMS = "This server does not send SMS, so it cannot validate phone numbers"
NO_VALIDATION = "This server cannot validate third-party identifiers (it sends no email or SMS)"


def medium_not_supported(msg: str) -> MatrixError:
    return MatrixError(400, Codes.THREEPID_MEDIUM_NOT_SUPPORTED, msg)


def check_3pid_validation_limit(hs: Any, request: HomeserverRequest, medium: str, address: str) -> None:
    """rc_3pid_validation, as Synapse applies it to every requestToken: per client IP address and
    per address being validated (429 M_LIMIT_EXCEEDED beyond either)."""
    limiter = hs.threepid_validation_limiter
    check_all((limiter, f"ip:{request.client_ip()}", 1), (limiter, f"{medium}:{address.lower()}", 1))


class EmailRequestTokenServlet(RestServlet):
    """/register, /account/password and /account/3pid email/requestToken."""

    PATTERNS = client_patterns("/(?:register|account/password|account/3pid)/email/requestToken")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        body = parse_json_object(request, EMAIL_TOKEN_BODY)
        check_3pid_validation_limit(self.hs, request, "email", body["email"])
        raise medium_not_supported(NO_EMAIL)


class MsisdnRequestTokenServlet(RestServlet):
    PATTERNS = client_patterns("/(?:register|account/password|account/3pid)/msisdn/requestToken")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        body = parse_json_object(request, MSISDN_TOKEN_BODY)
        check_3pid_validation_limit(self.hs, request, "msisdn", f"{body['country']}:{body['phone_number']}")
        raise medium_not_supported(NO_SMS)


class AddThreepidServlet(RestServlet):
    PATTERNS = client_patterns("/account/3pid/add")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth(request)
        parse_json_object(request, ADD_BODY)
        # No requestToken can have succeeded, so there is no validated session to add.
        raise medium_not_supported(NO_VALIDATION)


class BindThreepidServlet(RestServlet):
    PATTERNS = client_patterns("/account/3pid/bind")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth(request)
        parse_json_object(request, BIND_BODY)
        raise MatrixError(400, Codes.SERVER_NOT_TRUSTED, "This server does not use identity servers")


class RemoveThreepidServlet(RestServlet):
    """/account/3pid/delete and /unbind: no 3PID is ever bound to an account here, so there is
    nothing to remove from it, and no identity server was asked to unbind."""

    PATTERNS = client_patterns("/account/3pid/(?:delete|unbind)")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth(request)
        parse_json_object(request, REMOVE_BODY)
        return 200, {"id_server_unbind_result": "no-support"}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (EmailRequestTokenServlet, MsisdnRequestTokenServlet, AddThreepidServlet, BindThreepidServlet,
                    RemoveThreepidServlet):
        router.register(servlet(hs))
