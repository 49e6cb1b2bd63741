"""Turn a login `identifier` (or the legacy `user` field) into one of our user IDs."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden
from homeserver.api.identifiers import UserID
from homeserver.storage.users import UsersStore


def requested_user(body: dict[str, Any]) -> str:
    """The `user` named by an `m.id.user` identifier or the legacy top-level `user` field."""
    identifier = body.get("identifier")
    if identifier is None:
        user = body.get("user")
        if not isinstance(user, str):
            raise MatrixError(400, Codes.MISSING_PARAM, "Missing identifier")
        return user
    if not isinstance(identifier, dict) or not isinstance(identifier.get("type"), str):
        raise MatrixError(400, Codes.BAD_JSON, "'identifier' must be an object with a 'type'")
    kind = identifier["type"]
    if kind == "m.id.user":
        user = identifier.get("user")
        if not isinstance(user, str):
            raise MatrixError(400, Codes.MISSING_PARAM, "Missing identifier.user")
        return user
    if kind in ("m.id.thirdparty", "m.id.phone"):
        # No third-party identifiers are bound to accounts on this server yet.
        raise forbidden("No account is bound to that third-party identifier")
    raise MatrixError(400, Codes.UNKNOWN, f"Unknown identifier type {kind!r}")


async def resolve_user_id(users: UsersStore, server_name: str, user: str) -> str | None:
    """Our user ID for a localpart or full ID, matched case-insensitively if there is no exact match."""
    if user.startswith("@"):
        uid = UserID.parse(user)
        if uid.domain != server_name:
            return None
        user_id = uid.to_string()
    else:
        user_id = f"@{user}:{server_name}"
    if await users.user_exists(user_id):
        return user_id
    candidates = await users.find_user_ids_case_insensitive(user_id)
    return candidates[0] if len(candidates) == 1 else None
