"""The body of a Push Gateway `/_matrix/push/v1/notify` request (pure): what an http pusher sends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EVENT_ID_ONLY = "event_id_only"
# The gateway cannot see inside these, so cannot tell a quiet one from an important one.
_ALWAYS_HIGH_PRIORITY = frozenset({"m.room.encrypted", "m.call.invite"})


@dataclass(frozen=True)
class RoomDetails:
    """What a notification can say about the sender and the room, from the room's state."""

    sender_display_name: str | None = None
    room_name: str | None = None
    room_alias: str | None = None


def tweaks(actions: list[Any]) -> dict[str, Any]:
    """The `set_tweak` actions as a dict (a highlight tweak without a value means true)."""
    out: dict[str, Any] = {}
    for action in actions:
        if isinstance(action, dict) and isinstance(action.get("set_tweak"), str):
            name = action["set_tweak"]
            out[name] = action.get("value", True) if name == "highlight" else action.get("value")
    return out


def priority(event_type: str, event_tweaks: dict[str, Any]) -> str:
    """`high` for what should wake the phone (a sound, a highlight, an encrypted message or a
    call); `low` lets the gateway deliver it when it suits the device's battery."""
    if event_type in _ALWAYS_HIGH_PRIORITY or event_tweaks.get("highlight") is True or event_tweaks.get("sound"):
        return "high"
    return "low"


def counts(unread: int, missed_calls: int) -> dict[str, int]:
    """The `counts` object; counts of zero are left out (spec)."""
    out = {}
    if unread:
        out["unread"] = unread
    if missed_calls:
        out["missed_calls"] = missed_calls
    return out


def device(app_id: str, pushkey: str, pushkey_ts_ms: int, data: dict[str, Any],
           event_tweaks: dict[str, Any]) -> dict[str, Any]:
    """One entry of `devices`: the pusher's `data` minus `url`, its pushkey_ts in seconds."""
    return {
        "app_id": app_id,
        "pushkey": pushkey,
        "pushkey_ts": pushkey_ts_ms // 1000,
        "data": {k: v for k, v in data.items() if k != "url"},
        "tweaks": event_tweaks,
    }


def notification_body(event: dict[str, Any], room_details: RoomDetails, event_counts: dict[str, int],
                      device_entry: dict[str, Any], event_tweaks: dict[str, Any], recipient: str,
                      event_id_only: bool) -> dict[str, Any]:
    """The request body for one event and one pusher. `event`: event_id, room_id, type, sender,
    content (and state_key). `event_id_only`: only the IDs, counts and devices (and prio)."""
    notification: dict[str, Any] = {"event_id": event["event_id"], "room_id": event["room_id"]}
    if not event_id_only:
        notification["type"] = event["type"]
        notification["sender"] = event["sender"]
        for key in ("sender_display_name", "room_name", "room_alias"):
            value = getattr(room_details, key)
            if value:
                notification[key] = value
        if event["type"] == "m.room.member":
            notification["user_is_target"] = event.get("state_key") == recipient
        if event.get("content"):
            notification["content"] = event["content"]
    notification["prio"] = priority(event["type"], event_tweaks)
    notification["counts"] = event_counts
    notification["devices"] = [device_entry]
    return {"notification": notification}
