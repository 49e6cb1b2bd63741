"""A fake remote server for in-process federation tests: its keys reach our key ring through a
fake fetcher, it signs requests into our resource tree, and its users' events enter our rooms
through the real checker and persister."""

from __future__ import annotations

import json
import secrets
from typing import Any

from signedjson.key import generate_signing_key

from homeserver.clock import Clock
from homeserver.events.auth import auth_types_for_event
from homeserver.events.hashing import event_from_pdu
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, EventFormat
from homeserver.events.signing import sign_event
from homeserver.federation.keys import SERVER_KEYS_PATH, ServerKeys
from homeserver.federation.request_auth import authorization_header
from homeserver.handlers.persister import EventContext
from tests.server import HomeserverTestCase

REMOTE = "remote.test:8448"


class FakeRemote:
    def __init__(self, test: HomeserverTestCase, name: str = REMOTE):
        self.test = test
        self.name = name
        self.keys = ServerKeys(name, generate_signing_key("r1"), {}, Clock(test.fake_time), 86_400_000)
        test.hs.keyring.set_fetcher(self)
        test.hs.federation_api._client = self
        # Events this server holds that we may ask for (get_missing_events), and what we asked.
        self.events: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []

    async def get_json(self, destination: str, path: str, query: dict | None = None) -> Any:
        if destination != self.name or path != SERVER_KEYS_PATH:
            raise ConnectionError(f"no route to {destination}{path}")
        return self.keys.response()

    async def post_json(self, destination: str, path: str, body: Any) -> Any:
        self.requests.append(("POST", path, body))
        if destination == self.name and "/get_missing_events/" in path:
            # The events between earliest and latest, newest first, as the spec's walk gives them.
            out: list[dict[str, Any]] = []
            earliest = set(body["earliest_events"])
            todo = list(body["latest_events"])
            seen = set(todo)
            while todo and len(out) < body["limit"]:
                pdu = self.events.get(todo.pop(0))
                if pdu is None:
                    continue
                for prev in pdu["prev_events"]:
                    if prev not in earliest and prev not in seen and prev in self.events:
                        seen.add(prev)
                        out.append(self.events[prev])
                        todo.append(prev)
            return {"events": out[:body["limit"]]}
        raise ConnectionError(f"no route to {destination}{path}")

    def sign(self, pdu: dict[str, Any], room_version_id: str) -> dict[str, Any]:
        """A template from make_join/make_leave as this server would send it back: named (rooms
        1-2) and signed."""
        version = KNOWN_ROOM_VERSIONS[room_version_id]
        pdu = dict(pdu)
        if version.event_format is EventFormat.V1:
            pdu["event_id"] = f"${secrets.token_hex(8)}:{self.name}"
        return sign_event(pdu, self.name, self.keys.signing_key, version)

    def user(self, localpart: str) -> str:
        return f"@{localpart}:{self.name}"

    async def request(self, method: str, uri: str, body: Any = None) -> Any:
        header = authorization_header(self.name, self.keys.signing_key, self.test.hs.config.server_name, method,
                                      uri, body)
        raw = None if body is None else json.dumps(body).encode()
        return await self.test.request(method, uri, headers={"Authorization": header}, raw_body=raw)

    async def build_event(self, room_id: str, event_type: str, content: dict, sender: str,
                          state_key: str | None = None, prev_events: list[str] | None = None,
                          state: dict | None = None, depth: int | None = None) -> dict[str, Any]:
        """The room's next event from this server, signed (not sent): after our forward
        extremities (or `prev_events`), auth events chosen from our current state (or `state`).
        Kept in `events` for get_missing_events."""
        hs = self.test.hs
        version = await hs.events_store.get_room_version(room_id)
        if state is None:
            state = dict(await hs.events_store.get_current_state_ids(room_id))
        if prev_events is None:
            extremities = await hs.events_store.get_forward_extremities(room_id)
            prev_events = [e for e, _ in extremities]
            depth = max(d for _, d in extremities) + 1 if depth is None else depth
        wanted = auth_types_for_event(event_type, sender, state_key, content, version)
        pdu: dict[str, Any] = {
            "room_id": room_id, "type": event_type, "sender": sender, "content": content,
            "prev_events": prev_events, "depth": depth,
            "origin_server_ts": hs.clock.time_msec(),
            "auth_events": sorted(state[k] for k in wanted if k in state and not (
                k == ("m.room.create", "") and version.room_id_from_create_event)),
        }
        if state_key is not None:
            pdu["state_key"] = state_key
        pdu = self.sign(pdu, version.identifier)
        self.events[event_from_pdu(pdu, version).event_id] = pdu
        return pdu

    async def send_event(self, room_id: str, event_type: str, content: dict, sender: str,
                         state_key: str | None = None) -> str:
        """Build, sign and persist (through our checker and persister) the room's next event as
        if it had arrived from this server."""
        hs = self.test.hs
        version = await hs.events_store.get_room_version(room_id)
        state = dict(await hs.events_store.get_current_state_ids(room_id))
        pdu = await self.build_event(room_id, event_type, content, sender, state_key)
        event = await hs.event_checker.check_received(pdu, version)
        outcome = await hs.event_checker.check_auth(event, state, state)
        assert outcome.rejected is None and not outcome.soft_failed, outcome
        async with hs.event_persister.room_lock.queue(room_id):
            await hs.event_persister.persist(event, EventContext(None, state))
        return event.event_id
