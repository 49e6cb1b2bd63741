"""Events as clients see them (client-server API "ClientEvent")."""

from __future__ import annotations

from typing import Any

from homeserver.events.model import Event
from homeserver.events.redaction import redact


def client_event(event: Event, now_ms: int, redacted_because: dict[str, Any] | None = None,
                 transaction_id: str | None = None, include_room_id: bool = True,
                 prev_content: dict[str, Any] | None = None) -> dict[str, Any]:
    """The client view of `event`; redacted content if `redacted_because` (the redaction event,
    as a client event); `transaction_id` only for the device that sent it; `prev_content`: the
    content of the state event it replaced."""
    pdu = redact(event.pdu, event.room_version) if redacted_because else event.pdu
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
    if redacted_because:
        unsigned["redacted_because"] = redacted_because
    if transaction_id is not None:
        unsigned["transaction_id"] = transaction_id
    if "replaces_state" in event.unsigned:
        unsigned["replaces_state"] = event.unsigned["replaces_state"]
        if prev_content is not None:
            unsigned["prev_content"] = prev_content
    out["unsigned"] = unsigned
    return out
