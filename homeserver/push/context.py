"""Building a PushContext for one recipient from the room's state at an event (pure)."""

from __future__ import annotations

from typing import Any

from homeserver.events.auth import AuthEvents, get_user_power_level
from homeserver.events.model import Event
from homeserver.push.evaluator import PushContext

POWER_LEVELS = ("m.room.power_levels", "")


def recipient_state_keys(user_id: str) -> list[tuple[str, str]]:
    """The state a recipient's PushContext is built from (see push_context)."""
    return [("m.room.create", ""), POWER_LEVELS, ("m.room.member", user_id)]


def event_for_rules(event: Event) -> dict[str, Any]:
    """The event as push rule conditions see it (the same for unread counts and pushes)."""
    as_json: dict[str, Any] = {"event_id": event.event_id, "type": event.type, "sender": event.sender,
                               "room_id": event.room_id, "content": event.content}
    if event.is_state():
        as_json["state_key"] = event.state_key
    return as_json


def joined_member_count(state: AuthEvents) -> int:
    return sum(1 for (event_type, _), event in state.items()
               if event_type == "m.room.member" and event.content.get("membership") == "join")


def push_context(user_id: str, sender: str, state: AuthEvents, member_count: int | None = None) -> PushContext:
    """The recipient `user_id`'s context for an event sent by `sender`, given the room state:
    the joined member count (unless given), the recipient's display name in the room, the sender's
    power level and the power levels' `notifications` levels."""
    member = state.get(("m.room.member", user_id))
    display_name = member.content.get("displayname") if member is not None else None
    power_levels = state.get(POWER_LEVELS)
    notifications = power_levels.content.get("notifications") if power_levels is not None else None
    return PushContext(
        user_id=user_id,
        member_count=joined_member_count(state) if member_count is None else member_count,
        display_name=display_name if isinstance(display_name, str) else None,
        sender_power_level=get_user_power_level(sender, state),
        notification_levels=notifications if isinstance(notifications, dict) else {},
    )
