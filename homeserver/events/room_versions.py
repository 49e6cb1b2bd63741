"""The room versions this server knows (spec: content/rooms/)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RoomVersion:
    identifier: str
    stability: str  # "stable" or "unstable", as advertised in /capabilities


KNOWN_ROOM_VERSIONS: dict[str, RoomVersion] = {
    v.identifier: v for v in (RoomVersion("10", "stable"), RoomVersion("11", "stable"), RoomVersion("12", "stable"))
}
