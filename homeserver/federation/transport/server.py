"""Incoming federation requests: X-Matrix authentication for every `/_matrix/federation` servlet.

A request is accepted when one of its `Authorization: X-Matrix` headers names an origin we
federate with, a `destination` that is us (or none, from older servers), and a signature over
the method, URI and JSON body that verifies with a key of the origin valid now (fetched through
the key ring when we do not hold it). Otherwise: 401 M_UNAUTHORIZED (403 M_FORBIDDEN for an
origin outside `federation_domain_whitelist`)."""

from __future__ import annotations

import logging
import re
from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.federation.request_auth import AuthHeaderError, parse_authorization_header, verify_request
from homeserver.rest.http import HomeserverRequest, RestServlet, Validator, parse_json

logger = logging.getLogger(__name__)

FEDERATION_PREFIX = "/_matrix/federation"
KEY_PREFIX = "/_matrix/key"


def federation_patterns(path_regex: str, versions: tuple[str, ...] = ("v1",)) -> list[re.Pattern[str]]:
    return [re.compile(f"^{FEDERATION_PREFIX}/(?:{'|'.join(versions)}){path_regex}$")]


def unauthorized(why: str) -> MatrixError:
    return MatrixError(401, Codes.UNAUTHORIZED, why)


def federates_with(hs: Any, server_name: str) -> bool:
    allowed = hs.config.federation_domain_whitelist
    return allowed is None or server_name in allowed


class FederationServlet(RestServlet):
    """Base for `/_matrix/federation` servlets: `await self.authenticate(request)` gives the origin."""

    async def authenticate(self, request: HomeserverRequest) -> str:
        headers = request.requestHeaders.getRawHeaders(b"authorization") or []
        if not headers:
            raise unauthorized("Missing X-Matrix Authorization header")
        # Events of old room versions may carry integers beyond the canonical range: their room
        # version's rules judge them (events/validation.py), not the request parser.
        content = parse_json(request, canonical_numbers=False) if _has_body(request) else None
        request.federation_json = content  # type: ignore[attr-defined]
        uri = request.uri.decode("ascii", "replace")
        method = request.method.decode("ascii")
        our_name = self.hs.config.server_name
        why = "No valid X-Matrix signature"
        for raw in headers[:4]:
            try:
                auth = parse_authorization_header(raw.decode("utf-8"))
            except (AuthHeaderError, UnicodeDecodeError) as e:
                why = str(e)
                continue
            if auth.destination is not None and auth.destination != our_name:
                why = f"Request is for {auth.destination}, not this server"
                continue
            if not federates_with(self.hs, auth.origin):
                raise MatrixError(403, Codes.FORBIDDEN, "Federation with this server is not allowed")
            keys = await self.hs.keyring.verify_keys(auth.origin, [auth.key_id], self.hs.clock.time_msec())
            key = keys.get(auth.key_id)
            if key is None:
                why = f"Unknown or expired key {auth.key_id} of {auth.origin}"
                continue
            if verify_request(auth, key, our_name, method, uri, content):
                # It is up: requests to it no longer wait for their backoff, nor do its queued events.
                self.hs.federation_client.backoff.succeeded(auth.origin)
                self.hs.federation_sender.on_peer_contact(auth.origin)
                return auth.origin
            why = f"Bad X-Matrix signature from {auth.origin}"
        logger.info("Refused federation request %s %s: %s", method, request.path.decode("ascii", "replace"), why)
        raise unauthorized(why)


def federation_body(request: HomeserverRequest, schema: Validator | None = None) -> dict[str, Any]:
    """The JSON object body of an authenticated request (parsed once, by `authenticate`)."""
    body = getattr(request, "federation_json", None)
    if not isinstance(body, dict):
        raise MatrixError(400, Codes.BAD_JSON, "Content must be a JSON object.")
    if schema is not None:
        schema.validate(body)
    return body


def _has_body(request: HomeserverRequest) -> bool:
    request.content.seek(0, 2)
    size = request.content.tell()
    request.content.seek(0)
    return size > 0
