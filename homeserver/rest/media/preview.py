"""GET /_matrix/client/v1/media/preview_url (and the deprecated /_matrix/media/v3 form)."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.rest.http import HomeserverRequest, RestServlet, Router, parse_integer, parse_string
from homeserver.rest.media.download import authed_patterns
from homeserver.rest.media.upload import media_patterns


class PreviewUrlServlet(RestServlet):
    PATTERNS = authed_patterns("/preview_url") + media_patterns("/preview_url")

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        previewer = self.hs.url_previewer
        if not previewer.enabled:
            # As if the endpoint did not exist, which is what clients expect of a server without previews.
            raise MatrixError(404, Codes.UNRECOGNIZED, "URL previews are disabled on this server")
        requester = await self.auth(request)
        url = parse_string(request, "url", required=True)
        parse_integer(request, "ts")  # we keep only the latest preview of a URL, so any version will do
        return 200, await previewer.preview(url, requester.user_id)


def register_servlets(hs: Any, router: Router) -> None:
    router.register(PreviewUrlServlet(hs))
