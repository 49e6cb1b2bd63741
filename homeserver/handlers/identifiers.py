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
        # Only identify_user (login) looks third-party identifiers up; elsewhere name the user.
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


def requested_threepid(body: dict[str, Any]) -> tuple[str, str] | None:
    """(medium, address) of an `m.id.thirdparty` identifier or the legacy top-level `medium` and
    `address`; None when the body names a user some other way."""
    identifier = body.get("identifier")
    if identifier is None and "medium" in body:
        medium, address = body.get("medium"), body.get("address")
    elif isinstance(identifier, dict) and identifier.get("type") == "m.id.thirdparty":
        medium, address = identifier.get("medium"), identifier.get("address")
    else:
        return None
    if not isinstance(medium, str) or not isinstance(address, str):
        raise MatrixError(400, Codes.MISSING_PARAM, "A third-party identifier needs 'medium' and 'address'")
    return medium, address


async def identify_user(users: UsersStore, threepids: Any, server_name: str, body: dict[str, Any]
                        ) -> tuple[str | None, str]:
    """The account a login body names (None if there is none) and the key its rate limits count
    under. `threepids`: the ThreepidHandler (addresses bound to accounts)."""
    threepid = requested_threepid(body)
    if threepid is not None:
        medium, address = threepid
        key = f"{medium}:{address.strip().lower()}"
        return (await threepids.owner_of(medium, address) if threepids is not None else None), key
    named = requested_user(body)
    user_id = await resolve_user_id(users, server_name, named)
    return user_id, user_id or named.lower()
