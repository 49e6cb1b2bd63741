"""An event (PDU) as the server holds it: the JSON as signed, its room version, its ID."""

from __future__ import annotations

from typing import Any

from homeserver.events.room_versions import EventFormat, RoomVersion


class Event:
    """Read-only view over a PDU dict. `pdu` is the event exactly as it is hashed and signed
    (no `event_id` key for formats V3+, no `unsigned`); `unsigned` is kept beside it."""

    __slots__ = ("pdu", "room_version", "event_id", "unsigned", "internal")

    def __init__(self, pdu: dict[str, Any], room_version: RoomVersion, event_id: str,
                 unsigned: dict[str, Any] | None = None):
        self.pdu = pdu
        self.room_version = room_version
        self.event_id = event_id
        self.unsigned = unsigned or {}
        self.internal: dict[str, Any] = {}  # server-side notes (e.g. rejected reason), never sent

    # -- fields ---------------------------------------------------------------------------------

    @property
    def type(self) -> str:
        return self.pdu["type"]

    @property
    def sender(self) -> str:
        return self.pdu["sender"]

    @property
    def content(self) -> dict[str, Any]:
        return self.pdu.get("content", {})

    @property
    def state_key(self) -> str | None:
        return self.pdu.get("state_key")

    def is_state(self) -> bool:
        return "state_key" in self.pdu

    @property
    def state_tuple(self) -> tuple[str, str]:
        """(type, state_key) of a state event."""
        return self.pdu["type"], self.pdu["state_key"]

    @property
    def room_id(self) -> str:
        room_id = self.pdu.get("room_id")
        if room_id is None and self.room_version.room_id_from_create_event and self.type == "m.room.create":
            return "!" + self.event_id[1:]  # v12: the room ID is the create event's hash
        return room_id

    @property
    def origin_server_ts(self) -> int:
        return self.pdu["origin_server_ts"]

    @property
    def depth(self) -> int:
        return self.pdu["depth"]

    @property
    def redacts(self) -> str | None:
        """The redacted event: top-level before v11, in content from v11."""
        if self.room_version.redaction.value >= 11:
            return self.content.get("redacts")
        return self.pdu.get("redacts")

    @property
    def prev_event_ids(self) -> list[str]:
        return _ids(self.pdu.get("prev_events", []), self.room_version)

    @property
    def auth_event_ids(self) -> list[str]:
        return _ids(self.pdu.get("auth_events", []), self.room_version)

    @property
    def hashes(self) -> dict[str, str]:
        return self.pdu.get("hashes", {})

    @property
    def signatures(self) -> dict[str, dict[str, str]]:
        return self.pdu.get("signatures", {})

    def __repr__(self) -> str:
        return f"<Event {self.event_id} {self.type} {self.state_key!r} from {self.sender}>"


def _ids(refs: list[Any], room_version: RoomVersion) -> list[str]:
    """Event references: plain IDs, or [id, hashes] pairs in the V1 event format."""
    if room_version.event_format is EventFormat.V1:
        return [r[0] for r in refs]
    return list(refs)
