"""X-Matrix request authentication (spec: server-server "Request Authentication"): the signed
JSON of a request, the Authorization header we send, and the parser for the ones we receive.
Verifying a parsed header needs the origin's keys: see federation/keys.py and the transport."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from signedjson.key import SigningKey, VerifyKey
from signedjson.sign import SignatureVerifyException, sign_json, verify_signed_json


def request_json(method: str, uri: str, origin: str, destination: str, content: Any | None) -> dict[str, Any]:
    """The JSON both sides sign: `uri` is the full path with its query string, as sent."""
    body: dict[str, Any] = {"method": method, "uri": uri, "origin": origin, "destination": destination}
    if content is not None:
        body["content"] = content
    return body


def authorization_header(origin: str, signing_key: SigningKey, destination: str, method: str, uri: str,
                         content: Any | None = None) -> str:
    """The `Authorization` header value for one request (one space after the scheme, lower-case
    names, quoted values, no spaces around commas: what older servers parse)."""
    signed = sign_json(request_json(method, uri, origin, destination, content), origin, signing_key)
    key_id = f"{signing_key.alg}:{signing_key.version}"
    sig = signed["signatures"][origin][key_id]
    return f'X-Matrix origin="{origin}",destination="{destination}",key="{key_id}",sig="{sig}"'


@dataclass(frozen=True)
class XMatrixAuth:
    origin: str
    destination: str | None  # older servers may leave it out
    key_id: str
    sig: str


class AuthHeaderError(ValueError):
    pass


# RFC 9110 auth-param: name = token / quoted-string; older servers send colons unquoted.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z:]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*')
_MAX_HEADER = 4096


def parse_authorization_header(value: str) -> XMatrixAuth:
    """Parse one `Authorization: X-Matrix ...` value. AuthHeaderError when it is not one or
    lacks origin, key or sig. Names are case-insensitive; unknown parameters are ignored."""
    if len(value) > _MAX_HEADER:
        raise AuthHeaderError("Authorization header too long")
    scheme, _, rest = value.partition(" ")
    if scheme.lower() != "x-matrix":
        raise AuthHeaderError("Authorization scheme is not X-Matrix")
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None:
            raise AuthHeaderError("malformed X-Matrix parameters")
        name = m.group(1).lower()
        raw = m.group(2)
        params.setdefault(name, re.sub(r"\\(.)", r"\1", raw) if raw is not None else m.group(3))
        pos = m.end()
        if pos < len(rest):
            if rest[pos] != ",":
                raise AuthHeaderError("malformed X-Matrix parameters")
            pos += 1
    missing = [p for p in ("origin", "key", "sig") if not params.get(p)]
    if missing:
        raise AuthHeaderError(f"X-Matrix header lacks {', '.join(missing)}")
    return XMatrixAuth(params["origin"], params.get("destination"), params["key"], params["sig"])


def verify_request(auth: XMatrixAuth, verify_key: VerifyKey, destination: str, method: str, uri: str,
                   content: Any | None) -> bool:
    """True if `auth.sig` is the origin's signature (with `verify_key`, whose ID is auth.key_id)
    over the request as we received it, addressed to `destination` (us)."""
    signed = request_json(method, uri, auth.origin, destination, content)
    signed["signatures"] = {auth.origin: {auth.key_id: auth.sig}}
    try:
        verify_signed_json(signed, auth.origin, verify_key)
    except SignatureVerifyException:
        return False
    return True
