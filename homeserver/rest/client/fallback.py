"""Web fallbacks (spec: "Fallback" and "Login Fallback"): HTML pages a client opens in a browser
for an auth stage or a whole login it does not know how to do itself."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from homeserver.api.errors import AuthRequired, Codes, MatrixError
from homeserver.handlers.uia import DUMMY, PASSWORD, REGISTRATION_TOKEN
from homeserver.rest.http import HomeserverRequest, HtmlPage, RestServlet, client_patterns, parse_string

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
 body {{ font-family: system-ui, sans-serif; max-width: 24rem; margin: 3rem auto; padding: 0 1rem; }}
 label, input, button {{ display: block; width: 100%; box-sizing: border-box; margin: .4rem 0; }}
 input, button {{ padding: .5rem; font-size: 1rem; }}
 .error {{ color: #b00020; }}
</style></head>
<body><h1>{title}</h1>{body}</body></html>"""

# The spec's snippet that tells the client the stage is done.
DONE_SCRIPT = """<script>
if (window.onAuthDone) { window.onAuthDone(); }
else if (window.opener && window.opener.postMessage) { window.opener.postMessage("authDone", "*"); }
</script>"""

STAGE_FIELDS = {
    DUMMY: ("Continue", ""),
    PASSWORD: ("Confirm your identity", '<label>Password <input type="password" name="password" required '
                                        'autocomplete="current-password"></label>'),
    REGISTRATION_TOKEN: ("Registration token", '<label>Token <input name="token" required '
                                               'autocomplete="off"></label>'),
}
USERNAME_FIELD = '<label>Username <input name="username" required autocomplete="username"></label>'


def _page(title: str, body: str) -> HtmlPage:
    return HtmlPage(PAGE.format(title=escape(title), body=body))


class AuthFallbackServlet(RestServlet):
    PATTERNS = client_patterns("/auth/(?P<stage>[^/]+)/fallback/web")

    async def on_GET(self, request: HomeserverRequest, stage: str) -> tuple[int, Any]:
        session = parse_string(request, "session", required=True)
        return 200, await self._form(stage, session, error=None)

    async def on_POST(self, request: HomeserverRequest, stage: str) -> tuple[int, Any]:
        session = parse_string(request, "session", required=True)
        auth: dict[str, Any] = {"type": stage, "session": session}
        if stage == PASSWORD:
            auth["password"] = parse_string(request, "password", default="")
            username = parse_string(request, "username")
            if username:
                auth["identifier"] = {"type": "m.id.user", "user": username}
        elif stage == REGISTRATION_TOKEN:
            auth["token"] = parse_string(request, "token", default="")
        try:
            await self.hs.uia_handler.complete_stage_out_of_band(session, auth)
        except AuthRequired as e:
            return 200, await self._form(stage, session, error=e.error.msg if e.error else "Not accepted")
        return 200, _page("Done", "<p>Thank you. You can close this window.</p>" + DONE_SCRIPT)

    async def _form(self, stage: str, session: str, error: str | None) -> HtmlPage:
        if stage not in STAGE_FIELDS:
            raise MatrixError(404, Codes.UNRECOGNIZED, f"No fallback for {stage!r}")
        title, fields = STAGE_FIELDS[stage]
        user_id = await self.hs.uia_handler.session_user(session)  # 400 if the session is unknown
        if stage == PASSWORD and user_id is None:
            fields = USERNAME_FIELD + fields
        body = f'<p class="error">{escape(error)}</p>' if error else ""
        body += (f'<form method="post"><input type="hidden" name="session" value="{escape(session)}">'
                 f'{fields}<button type="submit">Continue</button></form>')
        return _page(title, body)


LOGIN_PAGE_SCRIPT = """<script>
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const params = Object.fromEntries(new URLSearchParams(window.location.search));
  const body = Object.assign({}, params, {
    type: "m.login.password",
    identifier: { type: "m.id.user", user: form.username.value },
    password: form.password.value,
  });
  const error = document.getElementById("error");
  error.textContent = "";
  try {
    const resp = await fetch("/_matrix/client/v3/login", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const json = await resp.json();
    if (!resp.ok) { error.textContent = json.error || "Login failed"; return; }
    if (window.matrixLogin && window.matrixLogin.onLogin) { window.matrixLogin.onLogin(json); }
    else { document.body.textContent = "Logged in. You can close this window."; }
  } catch (e) { error.textContent = "Cannot reach the server"; }
});
</script>"""


class LoginFallbackServlet(RestServlet):
    PATTERNS = [re.compile("^/_matrix/static/client/login/?$")]

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        body = ('<p id="error" class="error"></p><form id="login">' + USERNAME_FIELD +
                '<label>Password <input type="password" name="password" required '
                'autocomplete="current-password"></label><button type="submit">Log in</button></form>'
                + LOGIN_PAGE_SCRIPT)
        return 200, _page(f"Log in to {self.hs.config.server_name}", body)


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (AuthFallbackServlet, LoginFallbackServlet):
        router.register(servlet(hs))
