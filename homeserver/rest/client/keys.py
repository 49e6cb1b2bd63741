"""/keys/upload, /keys/query, /keys/claim, /keys/changes, /keys/device_signing/upload,
/keys/signatures/upload."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import invalid_param
from homeserver.handlers.e2e_keys import DEFAULT_TIMEOUT_MS
from homeserver.handlers.sync import parse_sync_token
from homeserver.handlers.uia import PASSWORD
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    operation_path,
    parse_json_object,
    parse_string,
)

# JSON Schema patterns are searched with Python's `re`, where `$` also matches before a final
# newline: `\Z` ends the string.
USER_ID = {"pattern": "^@[^:]+:.+\\Z"}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
SIGNATURES = {"type": "object", "propertyNames": USER_ID, "additionalProperties": STRING_MAP}
DEVICE_KEYS = {
    "type": "object",
    "required": ["user_id", "device_id", "algorithms", "keys", "signatures"],
    "properties": {
        "user_id": {"type": "string"}, "device_id": {"type": "string"},
        "algorithms": {"type": "array", "items": {"type": "string"}},
        "keys": STRING_MAP, "signatures": SIGNATURES, "unsigned": {"type": "object"},
    },
}
# MSC2732's name for fallback_keys, still sent by clients built before it was stable.
UNSTABLE_FALLBACK_KEYS = "org.matrix.msc2732.fallback_keys"
UPLOAD_BODY = Validator({
    "type": "object",
    "properties": {"device_keys": DEVICE_KEYS, "one_time_keys": {"type": "object"},
                   "fallback_keys": {"type": "object"}, UNSTABLE_FALLBACK_KEYS: {"type": "object"}},
})
QUERY_BODY = Validator({
    "type": "object", "required": ["device_keys"],
    "properties": {
        "timeout": {"type": "integer"},
        "device_keys": {"type": "object", "propertyNames": USER_ID,
                        "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
})
CLAIM_BODY = Validator({
    "type": "object", "required": ["one_time_keys"],
    "properties": {
        "timeout": {"type": "integer"},
        "one_time_keys": {"type": "object", "propertyNames": USER_ID, "additionalProperties": STRING_MAP},
    },
})
CROSS_SIGNING_KEY = {
    "type": "object", "required": ["user_id", "usage", "keys"],
    "properties": {"user_id": {"type": "string"}, "usage": {"type": "array", "items": {"type": "string"}},
                   "keys": STRING_MAP, "signatures": SIGNATURES},
}
SIGNING_KEYS_BODY = Validator({
    "type": "object",
    "properties": {"master_key": CROSS_SIGNING_KEY, "self_signing_key": CROSS_SIGNING_KEY,
                   "user_signing_key": CROSS_SIGNING_KEY, "auth": {"type": "object"}},
})
SIGNATURES_BODY = Validator({
    "type": "object", "propertyNames": USER_ID,
    "additionalProperties": {"type": "object", "additionalProperties": {"type": "object"}},
})


class KeysUploadServlet(RestServlet):
    # "/keys/upload/{deviceId}" is the deprecated r0 form some clients still call.
    PATTERNS = client_patterns("/keys/upload(?:/(?P<device_id>[^/]+))?")
    GUEST_METHODS = frozenset({"POST"})

    async def on_POST(self, request: HomeserverRequest, device_id: str | None = None) -> tuple[int, Any]:
        requester = await self.auth(request)
        if device_id is not None and device_id != requester.device_id:
            raise invalid_param(f"Keys can only be uploaded for the requesting device ({requester.device_id})")
        body = parse_json_object(request, UPLOAD_BODY)
        if "fallback_keys" not in body and UNSTABLE_FALLBACK_KEYS in body:
            body["fallback_keys"] = body[UNSTABLE_FALLBACK_KEYS]
        return 200, await self.hs.e2e_keys_handler.upload(requester.user_id, requester.device_id, body)


class KeysQueryServlet(RestServlet):
    PATTERNS = client_patterns("/keys/query")
    GUEST_METHODS = frozenset({"POST"})

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, QUERY_BODY)
        return 200, await self.hs.e2e_keys_handler.query(requester.user_id, body["device_keys"],
                                                         body.get("timeout", DEFAULT_TIMEOUT_MS))


class KeysClaimServlet(RestServlet):
    PATTERNS = client_patterns("/keys/claim")
    GUEST_METHODS = frozenset({"POST"})

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        await self.auth(request)
        body = parse_json_object(request, CLAIM_BODY)
        return 200, await self.hs.e2e_keys_handler.claim(body["one_time_keys"], body.get("timeout", DEFAULT_TIMEOUT_MS))


class KeysChangesServlet(RestServlet):
    PATTERNS = client_patterns("/keys/changes")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        tokens = []
        for name in ("from", "to"):
            token = parse_sync_token(parse_string(request, name, required=True) or "")
            if token is None:
                raise invalid_param(f"Query parameter {name!r} is not a sync token")
            tokens.append(token)
        since, upto = tokens
        device_lists = self.hs.device_lists_handler
        moves = await device_lists.membership_moves(requester.user_id, since.events, upto.events)
        changed, left = await device_lists.changes(requester.user_id, moves, since.device_lists, upto.device_lists)
        return 200, {"changed": changed, "left": left}


class SigningKeysUploadServlet(RestServlet):
    PATTERNS = client_patterns("/keys/device_signing/upload", releases=("v3", "unstable"))

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, SIGNING_KEYS_BODY)
        handler = self.hs.cross_signing_handler
        keys, needs_auth = await handler.check_signing_keys(requester.user_id, body)
        session_id = None
        if needs_auth:
            session_id, _, _ = await self.hs.uia_handler.check(
                body, "POST", operation_path(request), [[PASSWORD]], requester.user_id)
        await handler.store_signing_keys(requester.user_id, keys)
        if session_id is not None:
            await self.hs.uia_handler.finish(session_id)
        return 200, {}


class SignaturesUploadServlet(RestServlet):
    PATTERNS = client_patterns("/keys/signatures/upload", releases=("v3", "unstable"))

    async def on_POST(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        body = parse_json_object(request, SIGNATURES_BODY)
        return 200, await self.hs.cross_signing_handler.upload_signatures(requester.user_id, body)


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (KeysUploadServlet, KeysQueryServlet, KeysClaimServlet, KeysChangesServlet,
                    SigningKeysUploadServlet, SignaturesUploadServlet):
        router.register(servlet(hs))
