"""Room aliases and the published room directory (spec: client-server API, "Room aliases" and
"Published room directory").

Aliases live on this server only (there is no federation yet): `#localpart:our.server`. Who may
do what, where the spec leaves it to servers:
- create an alias: a member joined to the room, or a server admin;
- delete an alias: its creator, a joined member who may send `m.room.canonical_alias`, or a
  server admin; a deleted alias is also taken out of the room's `m.room.canonical_alias`
  when the deleting user may do that (the alias is deleted either way);
- publish a room or hide it: a joined member who may send `m.room.canonical_alias`, or a
  server admin;
- list a room's aliases: its joined members, anyone if it is world readable, server admins.
"""

from __future__ import annotations

import json
import re
from typing import Any

from homeserver.api.errors import Codes, MatrixError, forbidden, invalid_param, not_found
from homeserver.api.identifiers import is_valid_server_name
from homeserver.api.numbers import is_safe_integer
from homeserver.clock import Clock
from homeserver.events.auth import get_required_level, get_user_power_level
from homeserver.events.hashing import decode_base64, encode_base64
from homeserver.events.model import Event
from homeserver.federation.api import FederationApi
from homeserver.federation.client import DestinationRefused, FederationClientError, FederationError
from homeserver.handlers.auth import AuthHandler
from homeserver.handlers.events import EventCreationHandler
from homeserver.handlers.room_summary import CANONICAL_ALIAS, SUMMARY_STATE, content_str, public_room_chunk
from homeserver.storage.directory import DirectoryStore
from homeserver.storage.events import EventsStore
from homeserver.util import json_input

MAX_ALIAS_LENGTH = 255  # bytes, with the sigil and the domain (appendices, "Room Aliases")
MAX_PUBLIC_ROOMS_PAGE = 500
# Rooms listed even when published: those anyone can join, knock on, or read (the spec's
# published-directory warning lets servers leave out the others).
LISTED_JOIN_RULES = ("public", "knock", "knock_restricted")
# A new alias's localpart: the spec allows any code point but ':' and NUL; whitespace and control
# characters are refused too (they cannot be typed or shown reliably).
_BAD_NEW_LOCALPART = re.compile(r"[:\x00\s\x01-\x1f\x7f]")


def parse_alias(alias: str) -> tuple[str, str]:
    """(localpart, server name) of a room alias; 400 M_INVALID_PARAM if it is not one."""
    localpart, sep, domain = alias[1:].partition(":")
    if (not alias.startswith("#") or not sep or not is_valid_server_name(domain) or "\x00" in alias
            or len(alias.encode("utf-8")) > MAX_ALIAS_LENGTH):
        raise invalid_param(f"Room alias invalid: {alias!r}")
    return localpart, domain


def _check_new_localpart(localpart: str) -> None:
    if not localpart or _BAD_NEW_LOCALPART.search(localpart):
        raise invalid_param("A new room alias's localpart may not be empty or contain ':', whitespace or "
                            "control characters")


def _encode_token(direction: str, key: tuple[int, str]) -> str:
    raw = json.dumps([direction, key[0], key[1]], separators=(",", ":")).encode("utf-8")
    return encode_base64(raw, urlsafe=True)


def _decode_token(token: str) -> tuple[str, tuple[int, str]]:
    try:
        raw = decode_base64(token)
        direction, count, room_id = json_input.loads(raw)
        if direction in ("n", "p") and is_safe_integer(count) and isinstance(room_id, str):
            return direction, (count, room_id)
    except (ValueError, TypeError):
        pass
    raise invalid_param("Invalid pagination token")


REMOTE_DIRECTORY_CACHE_MS = 60_000
MAX_REMOTE_ROOMS = 500  # rooms taken from one page of another server's directory

class DirectoryHandler:
    def __init__(self, server_name: str, clock: Clock, store: DirectoryStore, events: EventsStore,
                 creator: EventCreationHandler, auth: AuthHandler, federation: FederationApi):
        self._server_name = server_name
        self._federation = federation
        self._clock = clock
        self._store = store
        self._events = events
        self._creator = creator
        self._auth = auth
        # (server, request) -> (until ms, answer): other servers' directories, kept a minute.
        self._remote_directories: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        # Aliases held for rooms being created: taken, though not stored yet (one process writes).
        self._reserved: set[str] = set()

    # -- aliases --------------------------------------------------------------------------------

    async def create_alias(self, user_id: str, alias: str, room_id: str) -> None:
        self._check_local(alias)
        _check_new_localpart(parse_alias(alias)[0])
        if await self._events.get_room_version(room_id) is None:
            raise not_found("Unknown room")
        membership = await self._events.get_membership(room_id, user_id)
        if (not membership or membership[0] != "join") and not await self._auth.is_admin(user_id):
            raise forbidden("You must be joined to the room to create an alias for it")
        if alias in self._reserved or not await self._store.create_alias(
                alias, room_id, user_id, self._clock.time_msec()):
            raise MatrixError(409, Codes.UNKNOWN, f"Room alias {alias} already exists.")

    async def resolve_alias(self, alias: str) -> dict[str, Any]:
        """{room_id, servers} for an alias (ours: us first, then the servers with a joined member;
        another server's: asked of it with /query/directory); 404 if there is none."""
        _, domain = parse_alias(alias)
        if domain != self._server_name:
            return await self._resolve_remote_alias(domain, alias)
        found = await self._store.get_alias(alias)
        if found is None:
            raise not_found(f"Room alias {alias} not found.")
        others = set(await self._events.get_joined_servers(found.room_id))
        others.discard(self._server_name)
        return {"room_id": found.room_id, "servers": [self._server_name, *sorted(others)]}

    async def _resolve_remote_alias(self, domain: str, alias: str) -> dict[str, Any]:
        try:
            answer = await self._federation.query_directory(domain, alias)
        except FederationError as e:
            if e.code == 404:
                raise not_found(f"Room alias {alias} not found.") from None
            raise MatrixError(502, Codes.UNKNOWN, f"{domain} failed to look the alias up") from None
        except DestinationRefused as e:
            raise e.as_matrix_error() from None
        except FederationClientError:
            raise MatrixError(502, Codes.UNKNOWN, f"{domain} could not be reached to look the alias up") from None
        room_id = answer.get("room_id") if isinstance(answer, dict) else None
        servers = answer.get("servers") if isinstance(answer, dict) else None
        if not isinstance(room_id, str) or not room_id.startswith("!") or not isinstance(servers, list):
            raise MatrixError(502, Codes.UNKNOWN, f"{domain} answered the alias lookup with nonsense")
        return {"room_id": room_id, "servers": [s for s in servers if isinstance(s, str)][:20]}

    async def resolve_room_id_or_alias(self, room_id_or_alias: str) -> str:
        if room_id_or_alias.startswith("#"):
            return (await self.resolve_alias(room_id_or_alias))["room_id"]
        return room_id_or_alias

    async def delete_alias(self, user_id: str, alias: str) -> None:
        _, domain = parse_alias(alias)
        found = await self._store.get_alias(alias) if domain == self._server_name else None
        if found is None:
            raise not_found(f"Room alias {alias} not found.")
        if not (found.creator == user_id or await self._may_manage_room(user_id, found.room_id)
                or await self._auth.is_admin(user_id)):
            raise forbidden("You may not delete this alias")
        if not await self._store.delete_alias(alias):
            raise not_found(f"Room alias {alias} not found.")
        await self._remove_from_canonical_alias(user_id, found.room_id, alias)

    async def _remove_from_canonical_alias(self, user_id: str, room_id: str, alias: str) -> None:
        state = await self._events.get_current_state_ids(room_id)
        event_id = state.get(CANONICAL_ALIAS)
        event = await self._events.get_event(event_id) if event_id else None
        if event is None:
            return
        content = dict(event.content)
        changed = False
        if content.get("alias") == alias:
            del content["alias"]
            changed = True
        alt = content.get("alt_aliases")
        if isinstance(alt, list) and alias in alt:
            content["alt_aliases"] = [a for a in alt if a != alias]
            changed = True
        if changed:
            try:
                await self._creator.send(user_id, room_id, "m.room.canonical_alias", content, "")
            except MatrixError:
                pass  # the spec: the alias is deleted even if the user may not update the event

    async def get_local_aliases(self, user_id: str, room_id: str) -> list[str]:
        if await self._events.get_room_version(room_id) is None:
            raise forbidden("You are not in this room")  # do not tell outsiders which rooms exist
        membership = await self._events.get_membership(room_id, user_id)
        if not (membership and membership[0] == "join"):
            state = await self._events.get_current_state_ids(room_id)
            hv = await self._state_event(state, ("m.room.history_visibility", ""))
            if content_str(hv, "history_visibility") != "world_readable" and not await self._auth.is_admin(user_id):
                raise forbidden("You are not in this room")
        return await self._store.get_aliases_for_room(room_id)

    async def check_canonical_alias(self, room_id: str, content: dict[str, Any]) -> None:
        """A client's m.room.canonical_alias content: 400 M_INVALID_PARAM for an alias that is not
        one, M_BAD_ALIAS for one that does not point to this room (other servers' aliases cannot
        be checked without federation, so they are refused too)."""
        aliases = []
        if content.get("alias") not in (None, ""):
            aliases.append(content["alias"])
        alt = content.get("alt_aliases")
        if alt is not None:
            if not isinstance(alt, list):
                raise invalid_param("alt_aliases must be a list of room aliases")
            aliases += alt
        for alias in aliases:
            if not isinstance(alias, str):
                raise invalid_param("Room aliases must be strings")
            parse_alias(alias)
        for alias in aliases:
            _, domain = parse_alias(alias)
            found = await self._store.get_alias(alias) if domain == self._server_name else None
            if found is None or found.room_id != room_id:
                raise MatrixError(400, "M_BAD_ALIAS", f"The alias {alias!r} does not point to this room.")

    def _check_local(self, alias: str) -> None:
        _, domain = parse_alias(alias)
        if domain != self._server_name:
            raise invalid_param(f"Room alias must be on this server ({self._server_name})")

    # -- aliases of new rooms (createRoom room_alias_name) --------------------------------------

    async def reserve_alias(self, localpart: str) -> str:
        """Hold `#localpart:us` for a room about to be created: 400 M_INVALID_PARAM if it is not a
        valid alias, 400 M_ROOM_IN_USE if it is taken. Release it with release_alias()."""
        _check_new_localpart(localpart)
        alias = f"#{localpart}:{self._server_name}"
        if len(alias.encode("utf-8")) > MAX_ALIAS_LENGTH:
            raise invalid_param(f"Room alias may not be longer than {MAX_ALIAS_LENGTH} bytes")
        if alias in self._reserved or await self._store.get_alias(alias) is not None:
            raise MatrixError(400, "M_ROOM_IN_USE", f"Room alias {alias} already taken")
        self._reserved.add(alias)
        return alias

    async def bind_reserved_alias(self, alias: str, room_id: str, user_id: str) -> None:
        if not await self._store.create_alias(alias, room_id, user_id, self._clock.time_msec()):
            raise MatrixError(400, "M_ROOM_IN_USE", f"Room alias {alias} already taken")

    def release_alias(self, alias: str) -> None:
        self._reserved.discard(alias)

    async def move_to_upgraded_room(self, old_room_id: str, new_room_id: str) -> list[str]:
        """Room upgrades, step 4: the old room's local aliases now lead to the new room, and a
        published old room is replaced by the new one in the directory. Returns the aliases moved."""
        moved = await self._store.move_aliases(old_room_id, new_room_id)
        if await self._store.get_visibility(old_room_id) == "public":
            await self._store.set_visibility(new_room_id, "public")
            await self._store.set_visibility(old_room_id, "private")
        return moved

    # -- published room directory ---------------------------------------------------------------

    async def get_visibility(self, room_id: str) -> str:
        if await self._events.get_room_version(room_id) is None:
            raise not_found("Room not found")
        return await self._store.get_visibility(room_id) or "private"

    async def set_visibility(self, user_id: str, room_id: str, visibility: str) -> None:
        if await self._events.get_room_version(room_id) is None:
            raise not_found("Room not found")
        if not (await self._may_manage_room(user_id, room_id) or await self._auth.is_admin(user_id)):
            raise forbidden("You may not change this room's visibility in the directory")
        await self._store.set_visibility(room_id, visibility)

    async def publish_new_room(self, room_id: str) -> None:
        """createRoom with visibility=public (the creator may, by the room's default power levels)."""
        await self._store.set_visibility(room_id, "public")

    async def get_remote_public_rooms(self, server: str, limit: int | None, since: str | None,
                                      search_term: str | None = None, room_types: list[str | None] | None = None,
                                      include_all_networks: bool = False,
                                      third_party_instance_id: str | None = None) -> dict[str, Any]:
        """Another server's room directory, asked over federation (POST /publicRooms); answers
        are kept a minute. 502 when the server cannot be reached or answers nonsense."""
        body: dict[str, Any] = {"include_all_networks": include_all_networks}
        if limit is not None:
            body["limit"] = limit
        if since is not None:
            body["since"] = since
        if search_term is not None or room_types is not None:
            body["filter"] = {k: v for k, v in (("generic_search_term", search_term), ("room_types", room_types))
                              if v is not None}
        if third_party_instance_id is not None:
            body["third_party_instance_id"] = third_party_instance_id
        key = (server, json.dumps(body, sort_keys=True))
        cached = self._remote_directories.get(key)
        if cached is not None and cached[0] > self._clock.time_msec():
            return cached[1]
        try:
            answer = await self._federation.public_rooms(server, body)
        except FederationError as e:
            if e.code in (400, 403, 404) and e.errcode:
                raise MatrixError(e.code, e.errcode, e.error or f"{server} refused to list its rooms") from None
            raise MatrixError(502, Codes.UNKNOWN, f"{server} failed to list its rooms") from None
        except DestinationRefused as e:
            raise e.as_matrix_error() from None
        except FederationClientError:
            raise MatrixError(502, Codes.UNKNOWN, f"{server} could not be reached") from None
        chunk = answer.get("chunk") if isinstance(answer, dict) else None
        if not isinstance(chunk, list):
            raise MatrixError(502, Codes.UNKNOWN, f"{server} answered without a chunk")
        out: dict[str, Any] = {"chunk": [r for r in chunk if isinstance(r, dict) and isinstance(r.get("room_id"), str)
                                         and isinstance(r.get("num_joined_members"), int)][:MAX_REMOTE_ROOMS]}
        for key_name in ("next_batch", "prev_batch"):
            if isinstance(answer.get(key_name), str):
                out[key_name] = answer[key_name]
        if isinstance(answer.get("total_room_count_estimate"), int):
            out["total_room_count_estimate"] = answer["total_room_count_estimate"]
        if len(self._remote_directories) > 1000:
            self._remote_directories.clear()
        self._remote_directories[key] = (self._clock.time_msec() + REMOTE_DIRECTORY_CACHE_MS, out)
        return out

    async def get_public_rooms(self, limit: int | None, since: str | None, search_term: str | None = None,
                               room_types: list[str | None] | None = None) -> dict[str, Any]:
        """A page of the published rooms, most joined members first, then by room ID. Tokens name
        the room a page ends (or starts) at, so pages stay put as rooms come and go."""
        entries = []
        for room_id, joined in await self._store.get_published_rooms():
            entry = await self._room_entry(room_id, joined)
            if entry is not None and _matches(entry, search_term, room_types):
                entries.append(entry)
        entries.sort(key=lambda e: (-e["num_joined_members"], e["room_id"]))
        keys = [(-e["num_joined_members"], e["room_id"]) for e in entries]
        limit = min(limit, MAX_PUBLIC_ROOMS_PAGE) if limit else MAX_PUBLIC_ROOMS_PAGE
        if since is None:
            start = 0
            end = min(limit, len(entries))
        else:
            direction, (count, room_id) = _decode_token(since)
            key = (-count, room_id)
            if direction == "n":  # the rooms after `key`
                start = next((i for i, k in enumerate(keys) if k > key), len(keys))
                end = min(start + limit, len(entries))
            else:  # the rooms before `key`
                end = next((i for i, k in enumerate(keys) if k >= key), len(keys))
                start = max(0, end - limit)
        chunk = entries[start:end]
        result: dict[str, Any] = {"chunk": chunk, "total_room_count_estimate": len(entries)}
        if chunk and end < len(entries):
            result["next_batch"] = _encode_token("n", (chunk[-1]["num_joined_members"], chunk[-1]["room_id"]))
        if chunk and start > 0:
            result["prev_batch"] = _encode_token("p", (chunk[0]["num_joined_members"], chunk[0]["room_id"]))
        return result

    async def _room_entry(self, room_id: str, joined: int) -> dict[str, Any] | None:
        state = await self._events.get_current_state_ids(room_id)
        ids = {k: state[k] for k in SUMMARY_STATE if k in state}
        fetched = await self._events.get_events(list(ids.values()))
        events = {k: fetched[eid] for k, eid in ids.items() if eid in fetched}
        if ("m.room.create", "") not in events:
            return None
        entry = public_room_chunk(room_id, events, joined)
        if entry.get("join_rule") not in LISTED_JOIN_RULES and not entry["world_readable"]:
            return None
        return entry

    # -- helpers --------------------------------------------------------------------------------

    async def _state_event(self, state: dict[tuple[str, str], str], key: tuple[str, str]) -> Event | None:
        event_id = state.get(key)
        return await self._events.get_event(event_id) if event_id else None

    async def _may_manage_room(self, user_id: str, room_id: str) -> bool:
        """A joined member with the power to send m.room.canonical_alias (a room admin)."""
        state = await self._events.get_current_state_ids(room_id)
        keys = [("m.room.create", ""), ("m.room.power_levels", ""), ("m.room.member", user_id)]
        ids = {k: state[k] for k in keys if k in state}
        fetched = await self._events.get_events(list(ids.values()))
        auth_events = {k: fetched[eid] for k, eid in ids.items() if eid in fetched}
        if content_str(auth_events.get(("m.room.member", user_id)), "membership") != "join":
            return False
        return get_user_power_level(user_id, auth_events) >= get_required_level(
            "m.room.canonical_alias", True, auth_events)


def _matches(entry: dict[str, Any], search_term: str | None, room_types: list[str | None] | None) -> bool:
    if room_types and entry.get("room_type") not in room_types:
        return False
    if search_term:
        needle = search_term.casefold()
        haystack = (entry.get("name"), entry.get("topic"), entry.get("canonical_alias"))
        if not any(needle in value.casefold() for value in haystack if value):
            return False
    return True
