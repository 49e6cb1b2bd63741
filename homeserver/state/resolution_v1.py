"""State resolution for room version 1 (spec: content/rooms/v1.md, "State resolution").

The original algorithm, kept for rooms created in version 1 (known to reset state in some forks;
version 2 fixed it). R starts as the unconflicted state; conflicts between power levels, then
join rules, then each user's membership are settled by walking their events oldest first (ascending
depth, then descending sha1 of the event ID) and keeping each one the authorisation rules allow in
R, stopping at the first they refuse; every other conflict takes the event with the highest depth
(then the lowest sha1 of its ID) that the rules allow in R."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from homeserver.events.model import Event

StateKey = tuple[str, str]
StateMap = dict[StateKey, str]

POWER_LEVELS: StateKey = ("m.room.power_levels", "")
JOIN_RULES: StateKey = ("m.room.join_rules", "")
MEMBER = "m.room.member"


def _sha1(event_id: str) -> bytes:
    return hashlib.sha1(event_id.encode("utf-8")).digest()


def resolve_v1(conflicted_keys: Mapping[StateKey, list[Event]], unconflicted: Mapping[StateKey, Event],
               auth_types: Callable[[Event], set[StateKey]], check_auth: Callable[[Event, Any], Any]) -> StateMap:
    """`conflicted_keys`: for each conflicted key, its events (those available); `unconflicted`:
    the state every set agrees on, as events. Returns the resolved state map."""
    resolved: dict[StateKey, Event] = dict(unconflicted)

    def allowed(event: Event) -> bool:
        auth = {k: resolved[k] for k in auth_types(event) if k in resolved}
        try:
            check_auth(event, auth)
        except Exception:  # the authorisation rules refused it (or could not read it)
            return False
        return True

    def walk_oldest_first(key: StateKey) -> None:
        events = sorted(conflicted_keys[key], key=lambda e: (e.depth, _neg(_sha1(e.event_id))))
        if not events:
            return
        resolved[key] = events[0]
        for event in events[1:]:
            if not allowed(event):
                break
            resolved[key] = event

    ordered = [k for k in (POWER_LEVELS, JOIN_RULES) if k in conflicted_keys]
    ordered += sorted(k for k in conflicted_keys if k[0] == MEMBER)
    for key in ordered:
        walk_oldest_first(key)
    for key in sorted(k for k in conflicted_keys if k not in ordered):
        for event in sorted(conflicted_keys[key], key=lambda e: (-e.depth, _sha1(e.event_id))):
            if allowed(event):
                resolved[key] = event
                break
    return {k: e.event_id for k, e in resolved.items()}


def _neg(digest: bytes) -> bytes:
    """A key that sorts digests in descending order."""
    return bytes(255 - b for b in digest)
