"""Asking other servers about spaces and rooms we do not hold: `GET
/_matrix/federation/v1/hierarchy/{roomId}` to the `via` servers of an `m.space.child` event, in
turn until one answers (spec: server-server "Spaces"; client-server `GET /hierarchy`).

Answers are checked and cut down to the fields a client summary has, with the right types (a
remote server's garbage never reaches a client), and cached for a few minutes per (room,
suggested_only), as the spec suggests, with the summaries of the children they carry, so that
walking into those children and paging through a hierarchy ask nobody again (a room no server
answered for is not asked about again for a minute). A server that fails
or answers nonsense is skipped; when none answers, the room is left out."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from homeserver.api.numbers import is_safe_integer
from homeserver.clock import Clock
from homeserver.federation.api import FederationApi
from homeserver.federation.client import FederationClientError
from homeserver.util.caches import LruCache

logger = logging.getLogger(__name__)

CACHE_LIFETIME_MS = 5 * 60 * 1000
UNANSWERED_LIFETIME_MS = 60 * 1000  # a room no server answered for is not asked about again sooner
MAX_VIA_TRIED = 3
MAX_CHILDREN = 1000
_STRING_FIELDS = ("name", "topic", "canonical_alias", "avatar_url", "join_rule", "room_type", "room_version",
                  "encryption")
_BOOLEAN_FIELDS = ("world_readable", "guest_can_join")


def _summary(value: Any) -> dict[str, Any] | None:
    """A room summary from another server, with only the fields a client summary has (and the
    right types), or None when it has no usable room ID."""
    if not isinstance(value, Mapping):
        return None
    room_id = value.get("room_id")
    if not isinstance(room_id, str) or not room_id.startswith("!") or len(room_id) > 255:
        return None
    summary: dict[str, Any] = {"room_id": room_id}
    for key in _STRING_FIELDS:
        if isinstance(value.get(key), str):
            summary[key] = value[key]
    for key in _BOOLEAN_FIELDS:
        summary[key] = value.get(key) is True
    joined = value.get("num_joined_members")
    summary["num_joined_members"] = joined if is_safe_integer(joined) and joined >= 0 else 0
    allowed = value.get("allowed_room_ids")
    if isinstance(allowed, list):
        summary["allowed_room_ids"] = [r for r in allowed[:MAX_CHILDREN] if isinstance(r, str)]
    children = value.get("children_state")
    if isinstance(children, list):
        summary["children_state"] = [c for c in map(_child_event, children[:MAX_CHILDREN]) if c is not None]
    return summary


def _child_event(value: Any) -> dict[str, Any] | None:
    """An `m.space.child` stripped state event with `origin_server_ts`, or None if it is not one."""
    if not isinstance(value, Mapping) or value.get("type") != "m.space.child":
        return None
    state_key, content, sender, ts = (value.get("state_key"), value.get("content"), value.get("sender"),
                                      value.get("origin_server_ts"))
    if not (isinstance(state_key, str) and state_key.startswith("!") and isinstance(content, Mapping)
            and isinstance(sender, str) and is_safe_integer(ts)):
        return None
    return {"type": "m.space.child", "state_key": state_key, "content": dict(content), "sender": sender,
            "origin_server_ts": ts}


def parse_hierarchy_response(room_id: str, body: Any) -> dict[str, Any] | None:
    """{room, children, inaccessible_children} checked, or None when the answer is unusable (not
    an object, or not about the room asked for)."""
    if not isinstance(body, Mapping):
        return None
    room = _summary(body.get("room"))
    if room is None or room["room_id"] != room_id:
        return None
    room.setdefault("children_state", [])
    children_raw = body.get("children")
    children = [c for c in map(_summary, children_raw[:MAX_CHILDREN] if isinstance(children_raw, list) else [])
                if c is not None]
    inaccessible_raw = body.get("inaccessible_children")
    inaccessible = [r for r in (inaccessible_raw[:MAX_CHILDREN] if isinstance(inaccessible_raw, list) else [])
                    if isinstance(r, str)]
    return {"room": room, "children": children, "inaccessible_children": inaccessible}


class RemoteHierarchy:
    """What other servers say of rooms in a space (see the module docstring)."""

    def __init__(self, server_name: str, clock: Clock, federation: FederationApi, cache_size: int = 1000):
        self._server_name = server_name
        self._clock = clock
        self._federation = federation
        self._responses: LruCache[tuple[str, bool], tuple[int, dict[str, Any]]] = LruCache(
            "remote_hierarchy", cache_size)
        self._children: LruCache[tuple[str, bool], tuple[int, dict[str, Any]]] = LruCache(
            "remote_hierarchy_children", cache_size * 10)
        self._unanswered: LruCache[tuple[str, bool], int] = LruCache("remote_hierarchy_unanswered", cache_size)
        self._inaccessible: LruCache[str, tuple[int, bool]] = LruCache("remote_hierarchy_inaccessible", cache_size * 10)

    def _fresh(self, entry: tuple[int, Any] | None) -> Any:
        if entry is None or self._clock.time_msec() - entry[0] > CACHE_LIFETIME_MS:
            return None
        return entry[1]

    def known_inaccessible(self, room_id: str) -> bool:
        """A server said no server could reach the room: the spec says not to ask again."""
        return self._fresh(self._inaccessible.get(room_id)) is not None

    def child_summary(self, room_id: str, suggested_only: bool) -> dict[str, Any] | None:
        """The room's summary as a parent's answer carried it, if one did lately."""
        return self._fresh(self._children.get((room_id, suggested_only)))

    async def get_hierarchy(self, room_id: str, suggested_only: bool, via: list[str]) -> dict[str, Any] | None:
        """The checked answer of the first of the `via` servers that gives one, or None."""
        cached = self._fresh(self._responses.get((room_id, suggested_only)))
        if cached is not None:
            return cached
        unanswered = self._unanswered.get((room_id, suggested_only))
        if unanswered is not None and self._clock.time_msec() - unanswered <= UNANSWERED_LIFETIME_MS:
            return None
        tried = 0
        for destination in dict.fromkeys(via):
            if destination == self._server_name or not isinstance(destination, str):
                continue
            if tried == MAX_VIA_TRIED:
                break
            tried += 1
            try:
                body = await self._federation.get_hierarchy(destination, room_id, suggested_only)
            except FederationClientError as e:
                logger.info("Could not get the hierarchy of %s from %s: %s", room_id, destination, e)
                continue
            answer = parse_hierarchy_response(room_id, body)
            if answer is None:
                logger.info("Unusable hierarchy of %s from %s", room_id, destination)
                continue
            now = self._clock.time_msec()
            self._responses.set((room_id, suggested_only), (now, answer))
            for child in answer["children"]:
                self._children.set((child["room_id"], suggested_only), (now, child))
            for inaccessible in answer["inaccessible_children"]:
                self._inaccessible.set(inaccessible, (now, True))
            return answer
        self._unanswered.set((room_id, suggested_only), self._clock.time_msec())
        return None
