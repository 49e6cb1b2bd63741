"""Events as clients see them (client-server API "ClientEvent")."""

from __future__ import annotations

from typing import Any

from homeserver.events.model import Event
from homeserver.events.redaction import redact


def client_event(event: Event, now_ms: int, redacted_by: str | None = None,
                 transaction_id: str | None = None, include_room_id: bool = True) -> dict[str, Any]:
    """The client view of `event`; redacted content if `redacted_by`; `transaction_id` only for
    the device that sent it."""
    pdu = redact(event.pdu, event.room_version) if redacted_by else event.pdu
    out: dict[str, Any] = {
        "event_id": event.event_id,
        "type": event.type,
        "sender": event.sender,
        "origin_server_ts": event.origin_server_ts,
        "content": pdu.get("content", {}),
    }
    if include_room_id:
        out["room_id"] = event.room_id
    if event.is_state():
        out["state_key"] = event.state_key
    if event.type == "m.room.redaction" and event.redacts:
        out["redacts"] = event.redacts  # top-level too, for clients written before v11
    unsigned: dict[str, Any] = {"age": max(0, now_ms - event.origin_server_ts)}
    if redacted_by:
        unsigned["redacted_because"] = {"event_id": redacted_by}
    if transaction_id is not None:
        unsigned["transaction_id"] = transaction_id
    for key in ("prev_content", "replaces_state"):
        if key in event.unsigned:
            unsigned[key] = event.unsigned[key]
    out["unsigned"] = unsigned
    return out
