"""A room's summary as the published room directory and the space hierarchy show it (the spec's
`PublishedRoomsChunk`, which `RoomSummary` extends), built from the room's current state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.events.model import Event

StateKey = tuple[str, str]
CREATE = ("m.room.create", "")
CANONICAL_ALIAS = ("m.room.canonical_alias", "")
JOIN_RULES = ("m.room.join_rules", "")
HISTORY_VISIBILITY = ("m.room.history_visibility", "")
# The state a summary is made of.
SUMMARY_STATE: tuple[StateKey, ...] = (
    CREATE, ("m.room.name", ""), ("m.room.topic", ""), CANONICAL_ALIAS, ("m.room.avatar", ""), JOIN_RULES,
    HISTORY_VISIBILITY, ("m.room.guest_access", ""),
)


def content_str(event: Event | None, key: str) -> str | None:
    """A non-empty string in the event's content, or None."""
    value = event.content.get(key) if event is not None else None
    return value if isinstance(value, str) and value else None


def plain_topic(event: Event | None) -> str | None:
    """The topic's plain text: `topic`, else the first `text/plain` entry of `m.topic`."""
    topic = content_str(event, "topic")
    if topic is not None or event is None:
        return topic
    block = event.content.get("m.topic")
    texts = block.get("m.text") if isinstance(block, dict) else None
    for text in texts if isinstance(texts, list) else []:
        if (isinstance(text, dict) and text.get("mimetype", "text/plain") == "text/plain"
                and isinstance(text.get("body"), str) and text["body"]):
            return text["body"]
    return None


def join_rule_of(events: Mapping[StateKey, Event]) -> str | None:
    return content_str(events.get(JOIN_RULES), "join_rule")


def is_world_readable(events: Mapping[StateKey, Event]) -> bool:
    return content_str(events.get(HISTORY_VISIBILITY), "history_visibility") == "world_readable"


def public_room_chunk(room_id: str, events: Mapping[StateKey, Event], joined_members: int) -> dict[str, Any]:
    """The room's `PublishedRoomsChunk` from its current state events (keyed by (type, state_key),
    at least those of SUMMARY_STATE the room has). Optional fields are left out when unset."""
    chunk: dict[str, Any] = {
        "room_id": room_id,
        "num_joined_members": joined_members,
        "world_readable": is_world_readable(events),
        "guest_can_join": content_str(events.get(("m.room.guest_access", "")), "guest_access") == "can_join",
    }
    optional = {
        "name": content_str(events.get(("m.room.name", "")), "name"),
        "topic": plain_topic(events.get(("m.room.topic", ""))),
        "canonical_alias": content_str(events.get(CANONICAL_ALIAS), "alias"),
        "avatar_url": content_str(events.get(("m.room.avatar", "")), "url"),
        "join_rule": join_rule_of(events),
        "room_type": content_str(events.get(CREATE), "type"),
    }
    chunk.update({k: v for k, v in optional.items() if v is not None})
    return chunk
