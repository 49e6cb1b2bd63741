"""Signing events and checking their signatures (spec: server-server "Signing Events";
appendices "Signing JSON", "Checking for a Signature").

A signature covers the *redacted* event (which still includes the content hash), so it stays
checkable after a redaction, and the hash tells whether we hold the full event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from signedjson.key import SigningKey, VerifyKey
from signedjson.sign import SignatureVerifyException, sign_json, verify_signed_json

from homeserver.events.hashing import add_content_hash
from homeserver.events.redaction import redact
from homeserver.events.room_versions import EventFormat, RoomVersion


class EventSignatureError(Exception):
    """The event lacks a required signature, or a signature does not verify."""


def sign_event(pdu: dict[str, Any], server_name: str, signing_key: SigningKey,
               room_version: RoomVersion) -> dict[str, Any]:
    """A copy of `pdu` with our signature added. An existing content hash is kept as is (we may
    be co-signing someone else's event, e.g. an invite); a missing one is computed first."""
    hashes = pdu.get("hashes")
    if not (isinstance(hashes, dict) and "sha256" in hashes):
        pdu = add_content_hash(pdu)
    signed_redacted = sign_json(redact(pdu, room_version), server_name, signing_key)
    key_id = f"{signing_key.alg}:{signing_key.version}"
    signature = signed_redacted["signatures"][server_name][key_id]

    signatures = {name: dict(sigs) for name, sigs in (pdu.get("signatures") or {}).items()}
    signatures.setdefault(server_name, {})[key_id] = signature
    return {**pdu, "signatures": signatures}


def verify_event_signature(pdu: dict[str, Any], server_name: str, verify_key: VerifyKey,
                           room_version: RoomVersion) -> None:
    """Check `server_name`'s signature with `verify_key` (whose alg/version name the key ID).
    Works on a full or an already-redacted event alike. Raises EventSignatureError."""
    key_id = f"{verify_key.alg}:{verify_key.version}"
    sigs = pdu.get("signatures")
    if not isinstance(sigs, dict) or not isinstance(sigs.get(server_name), dict) \
            or key_id not in sigs[server_name]:
        raise EventSignatureError(f"event is not signed by {server_name} with key {key_id}")
    try:
        verify_signed_json(redact(pdu, room_version), server_name, verify_key)
    except SignatureVerifyException as e:
        raise EventSignatureError(f"bad signature from {server_name} ({key_id}): {e}") from e


def check_signed_by(pdu: dict[str, Any], server_name: str, verify_keys: Mapping[str, VerifyKey],
                    room_version: RoomVersion) -> None:
    """Check the event against the keys we know for `server_name` (key ID -> key, already
    filtered for validity at the event's origin_server_ts by the caller). Signatures under
    unknown key IDs are ignored; every known one must verify, and there must be at least one."""
    sigs = pdu.get("signatures")
    server_sigs = sigs.get(server_name) if isinstance(sigs, dict) else None
    known = [k for k in (server_sigs or {}) if k in verify_keys]
    if not known:
        raise EventSignatureError(f"no signature from {server_name} with a known key")
    for key_id in known:
        verify_event_signature(pdu, server_name, verify_keys[key_id], room_version)


def servers_required_to_sign(pdu: dict[str, Any], room_version: RoomVersion) -> set[str]:
    """The sender's server; for rooms 1-2 also the server named in the event ID; for a
    restricted join (v8+), the server of `join_authorised_via_users_server`.
    (Third-party invites, where another server may send the event, are left to the caller.)"""
    servers = {_domain(pdu.get("sender"), "sender")}
    if room_version.event_format is EventFormat.V1:
        servers.add(_domain(pdu.get("event_id"), "event_id"))
    content = pdu.get("content")
    if room_version.restricted_join_rule and pdu.get("type") == "m.room.member" and isinstance(content, dict) \
            and content.get("membership") == "join" and "join_authorised_via_users_server" in content:
        servers.add(_domain(content["join_authorised_via_users_server"], "join_authorised_via_users_server"))
    return servers


def _domain(identifier: Any, what: str) -> str:
    if not isinstance(identifier, str) or ":" not in identifier:
        raise EventSignatureError(f"{what} has no server name: {identifier!r}")
    return identifier.split(":", 1)[1]
