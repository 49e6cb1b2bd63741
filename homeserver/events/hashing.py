"""Canonical JSON, event content hashes, reference hashes and event/room IDs
(spec: appendices "Canonical JSON"; server-server "Calculating the reference hash/content hash";
rooms v1/v3/v4 "Event IDs", v12 "Event format")."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import canonicaljson
import unpaddedbase64
from unpaddedbase64 import encode_base64

from homeserver.events.model import Event
from homeserver.events.redaction import redact
from homeserver.events.room_versions import EventFormat, RoomVersion


def encode_canonical_json(obj: Any) -> bytes:
    return canonicaljson.encode_canonical_json(obj)


__all__ = ["encode_base64", "decode_base64"]  # unpadded base64 (spec: appendices, "Unpadded Base64")

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def decode_base64(value: str) -> bytes:
    """Accepts padded or unpadded input, either alphabet (spec: implementations SHOULD accept
    both with and without padding). Raises ValueError on anything else: unpaddedbase64 alone
    would skip characters outside the alphabet."""
    if not isinstance(value, str) or not _BASE64.fullmatch(value):
        raise ValueError("invalid base64")
    return unpaddedbase64.decode_base64(value)  # binascii.Error is a ValueError


# -- content hash -------------------------------------------------------------------------------


def _content_hash_bytes(pdu: dict[str, Any]) -> bytes:
    # `unsigned` changes in transit, `signatures` depend on the hash, and `hashes` cannot
    # cover itself; everything else (the unredacted event) is covered.
    stripped = {k: v for k, v in pdu.items() if k not in ("unsigned", "signatures", "hashes")}
    return hashlib.sha256(encode_canonical_json(stripped)).digest()


def compute_content_hash(pdu: dict[str, Any]) -> str:
    """The content hash as stored under hashes.sha256: unpadded standard base64."""
    return encode_base64(_content_hash_bytes(pdu))


def add_content_hash(pdu: dict[str, Any]) -> dict[str, Any]:
    """A copy of `pdu` with hashes.sha256 set (other hash algorithms, if any, are kept)."""
    hashes = dict(pdu.get("hashes") or {})
    hashes["sha256"] = compute_content_hash(pdu)
    return {**pdu, "hashes": hashes}


def check_content_hash(pdu: dict[str, Any]) -> bool:
    """True if hashes.sha256 is present, decodes, and matches the event. A mismatch means the
    event must be processed in its redacted form (spec: validating hashes on received events)."""
    hashes = pdu.get("hashes")
    claimed = hashes.get("sha256") if isinstance(hashes, dict) else None
    if not isinstance(claimed, str):
        return False
    try:
        claimed_bytes = decode_base64(claimed)
    except ValueError:
        return False
    return hmac.compare_digest(claimed_bytes, _content_hash_bytes(pdu))


# -- reference hash and IDs ---------------------------------------------------------------------


def compute_reference_hash(pdu: dict[str, Any], room_version: RoomVersion) -> bytes:
    """sha256 over the canonical JSON of the redacted event without `signatures`/`unsigned`.
    (Redaction already drops every other non-essential top-level key, such as a stray `age_ts`.)"""
    redacted = redact(pdu, room_version)
    redacted.pop("signatures", None)
    redacted.pop("unsigned", None)
    return hashlib.sha256(encode_canonical_json(redacted)).digest()


def compute_event_id(pdu: dict[str, Any], room_version: RoomVersion) -> str:
    fmt = room_version.event_format
    if fmt is EventFormat.V1:
        # Rooms 1-2: the ID is chosen by the origin server and carried in the event.
        event_id = pdu.get("event_id")
        if not isinstance(event_id, str):
            raise ValueError("event in a v1-format room has no event_id")
        return event_id
    reference_hash = compute_reference_hash(pdu, room_version)
    # v3 used the standard alphabet; v4 onwards the URL-safe one (no '/' or '+' in IDs).
    return "$" + encode_base64(reference_hash, urlsafe=fmt is not EventFormat.V3)


def room_id_for_create_event(create_pdu: dict[str, Any], room_version: RoomVersion) -> str:
    """The room ID a create event belongs to. From v12 that is the create event's own ID with
    the '!' sigil (the event itself has no room_id); before, it is the event's `room_id`."""
    if room_version.room_id_from_create_event:
        if "room_id" in create_pdu:
            raise ValueError("a v12 m.room.create event must not have a room_id")
        return "!" + compute_event_id(create_pdu, room_version)[1:]
    room_id = create_pdu.get("room_id")
    if not isinstance(room_id, str):
        raise ValueError("m.room.create event has no room_id")
    return room_id


def event_from_pdu(pdu: dict[str, Any], room_version: RoomVersion,
                   unsigned: dict[str, Any] | None = None) -> Event:
    """Wrap a received or built PDU. `unsigned` (given, or taken from the PDU) is kept beside the
    event, never inside it. For formats V3+ a stray `event_id` key is dropped: it is not part of
    those formats, and the ID is always our own computation from the remaining event."""
    body = dict(pdu)
    embedded_unsigned = body.pop("unsigned", None)
    if unsigned is None and isinstance(embedded_unsigned, dict):
        unsigned = embedded_unsigned
    if room_version.event_format is not EventFormat.V1:
        body.pop("event_id", None)
    return Event(body, room_version, compute_event_id(body, room_version), unsigned)
