"""Third-party identifiers: the requestToken endpoints, the validation links the server mails,
and adding, binding, unbinding and deleting 3PIDs.

E-mail works when the `email` section is configured (the server sends its own mails; see
docs/email.md). Phone numbers never do (no SMS), and no identity server is used: those endpoints
answer with the spec's error for a server without that support."""

from __future__ import annotations

from html import escape
from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.handlers.threepids import ADD_THREEPID, PASSWORD_RESET, REGISTER
from homeserver.handlers.uia import PASSWORD
from homeserver.ratelimit import check_all
from homeserver.rest.http import (
    HomeserverRequest,
    HtmlPage,
    RawBody,
    RestServlet,
    Validator,
    client_patterns,
    operation_path,
    parse_json_object,
    parse_string,
)

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
NO_SMS = "This server does not send SMS, so it cannot validate phone numbers"
PURPOSES = {"register": REGISTER, "account/password": PASSWORD_RESET, "account/3pid": ADD_THREEPID}

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; }}
 button {{ padding: .5rem 1rem; font-size: 1rem; }}
 .error {{ color: #b00020; }}
</style></head>
<body><h1>{title}</h1>{body}</body></html>"""


def medium_not_supported(msg: str) -> MatrixError:
    return MatrixError(400, Codes.THREEPID_MEDIUM_NOT_SUPPORTED, msg)


def check_3pid_validation_limit(hs: Any, request: HomeserverRequest, medium: str, address: str) -> None:
    """rc_3pid_validation, as Synapse applies it to every requestToken: per client IP address and
    per address being validated (429 M_LIMIT_EXCEEDED beyond either)."""
    limiter = hs.threepid_validation_limiter
    check_all((limiter, f"ip:{request.client_ip()}", 1), (limiter, f"{medium}:{address.lower()}", 1))


def _page(title: str, body: str) -> HtmlPage:
    return HtmlPage(PAGE.format(title=escape(title), body=body))


class Redirect(RawBody):
    def __init__(self, location: str):
        self.location = location

    def send(self, request: HomeserverRequest, code: int) -> None:
        request.setResponseCode(302)
        request.responseHeaders.setRawHeaders(b"Location", [self.location.encode("utf-8")])
        request.responseHeaders.setRawHeaders(b"Content-Length", [b"0"])
        request.responseHeaders.setRawHeaders(b"Cache-Control", [b"no-cache, no-store, must-revalidate"])
        request.finish()


class EmailRequestTokenServlet(RestServlet):
    """/register, /account/password and /account/3pid email/requestToken."""

    PATTERNS = client_patterns("/(?P<prefix>register|account/password|account/3pid)/email/requestToken")

    async def on_POST(self, request: HomeserverRequest, prefix: str) -> tuple[int, Any]:
        body = parse_json_object(request, EMAIL_TOKEN_BODY)
        check_3pid_validation_limit(self.hs, request, "email", body["email"])
        sid = await self.hs.threepid_handler.request_email_token(PURPOSES[prefix], body)
        return 200, {"sid": sid}


class MsisdnRequestTokenServlet(RestServlet):
    PATTERNS = client_patterns("/(?:register|account/password|account/3pid)/msisdn/requestToken")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        body = parse_json_object(request, MSISDN_TOKEN_BODY)
        check_3pid_validation_limit(self.hs, request, "msisdn", f"{body['country']}:{body['phone_number']}")
        raise medium_not_supported(NO_SMS)


class SubmitTokenServlet(RestServlet):
    """The link in a validation mail. Registration and new-address links validate when opened (and
    go on to `next_link` if the client gave one). A password-reset link first asks for a click:
    a reset nobody asked for must not go through because a mail scanner or a curious recipient
    opened the link."""

    PATTERNS = client_patterns("/(?P<kind>registration|add_threepid|password_reset)/email/submit_token",
                               releases=(), unstable=True)

    async def on_GET(self, request: HomeserverRequest, kind: str) -> tuple[int, Any]:
        if kind == "password_reset":
            # The form posts back to this same URL (query string included).
            return 200, _page("Reset your password", (
                "<p>Someone (hopefully you) asked to reset the password of the account with this e-mail "
                "address. Continue only if it was you.</p>"
                '<form method="post"><button type="submit">Yes, allow the password reset</button></form>'))
        return await self._submit(request, kind)

    async def on_POST(self, request: HomeserverRequest, kind: str) -> tuple[int, Any]:
        return await self._submit(request, kind)

    async def _submit(self, request: HomeserverRequest, kind: str) -> tuple[int, Any]:
        result = await self.hs.threepid_handler.submit_token(
            kind, parse_string(request, "sid", default=""), parse_string(request, "client_secret", default=""),
            parse_string(request, "token", default=""))
        if result.ok and result.next_link:
            return 302, Redirect(result.next_link)
        if result.ok:
            return 200, _page("E-mail address confirmed", f"<p>{escape(result.message)}</p>")
        return 400, _page("Validation failed", f'<p class="error">{escape(result.message)}</p>')


class UnsubscribeServlet(RestServlet):
    """The unsubscribe link of a notification mail. GET asks for a click (link scanners open
    links); POST unsubscribes, as mail programs do for `List-Unsubscribe-Post: One-Click`."""

    PATTERNS = client_patterns("/email/unsubscribe", releases=(), unstable=True)

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        return 200, _page("Unsubscribe", "<p>Stop e-mail notifications to this address?</p>"
                                         '<form method="post"><button type="submit">Unsubscribe</button></form>')

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        ok = await self.hs.email_notifier.unsubscribe(
            parse_string(request, "user_id", default=""), parse_string(request, "address", default=""),
            parse_string(request, "sig", default=""))
        if not ok:
            return 400, _page("Unsubscribe", '<p class="error">This unsubscribe link is not valid.</p>')
        return 200, _page("Unsubscribed", "<p>You will get no more notification mails at this address.</p>")


class AddThreepidServlet(RestServlet):
    PATTERNS = client_patterns("/account/3pid/add")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, ADD_BODY)
        handler = self.hs.threepid_handler
        if not handler.email_enabled:
            raise medium_not_supported("This server cannot validate third-party identifiers (it sends no email)")
        session_id, params, _ = await self.hs.uia_handler.check(
            body, "POST", operation_path(request), [[PASSWORD]], requester.user_id)
        await handler.add_threepid(requester.user_id, params["client_secret"], params["sid"])
        await self.hs.uia_handler.finish(session_id)
        return 200, {}


class BindThreepidServlet(RestServlet):
    PATTERNS = client_patterns("/account/3pid/bind")

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth(request)
        parse_json_object(request, BIND_BODY)
        raise MatrixError(400, Codes.SERVER_NOT_TRUSTED, "This server does not use identity servers")


class RemoveThreepidServlet(RestServlet):
    """/account/3pid/delete removes the address from the account (if it is bound to it: removing
    one that is not changes nothing). /unbind only concerns identity servers, which this server
    does not use. Neither asked an identity server anything: `no-support`."""

    PATTERNS = client_patterns("/account/3pid/(?P<action>delete|unbind)")

    async def on_POST(self, request: HomeserverRequest, action: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, REMOVE_BODY)
        if action == "delete":
            await self.hs.threepid_handler.remove(requester.user_id, body["medium"], body["address"])
        return 200, {"id_server_unbind_result": "no-support"}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (EmailRequestTokenServlet, MsisdnRequestTokenServlet, SubmitTokenServlet, UnsubscribeServlet,
                    AddThreepidServlet,
                    BindThreepidServlet, RemoveThreepidServlet):
        router.register(servlet(hs))
