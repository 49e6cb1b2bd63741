"""Our users joining rooms that live on other servers (spec: server-server "Joining Rooms";
data/api/server-server/joins-v1.yaml, joins-v2.yaml).

Through one of the servers given (`via`/`server_name`, an alias's servers, or the room ID's
domain): make_join gives the template of the join (and the room version, among those we support);
we fill it in, sign it and send it back with send_join (v2, else v1). The answer holds the room's
state before the join and its auth chain: every event is checked (format, signatures, content
hash, auth against its own auth events) before any is trusted; those that pass are stored as
outliers, the room's state is built from them, the join must pass auth against that state, and
then it enters the room through the one persister like any event. From then on the room is ours
too: our users' events are built here and sent by the federation sender."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from signedjson.key import SigningKey

from homeserver.api.errors import Codes, MatrixError, not_found
from homeserver.clock import Clock
from homeserver.events.hashing import event_from_pdu
from homeserver.events.model import Event
from homeserver.events.room_versions import KNOWN_ROOM_VERSIONS, EventFormat, RoomVersion
from homeserver.events.signing import sign_event
from homeserver.federation.api import FederationApi
from homeserver.federation.client import DestinationRefused, FederationClientError, FederationError
from homeserver.handlers.event_checker import EventChecker, EventCheckError
from homeserver.handlers.federation_membership import stripped_events
from homeserver.handlers.persister import EventContext, EventPersister
from homeserver.handlers.remote_state import CREATE_KEY, check_state_answer, stripped_state_of
from homeserver.storage.events import EventsStore
from homeserver.storage.state_groups import StateMap

logger = logging.getLogger(__name__)

MAX_SERVERS_TRIED = 10
# The keys of a make_join template we keep: everything else is ours to set.
TEMPLATE_KEYS = ("room_id", "sender", "type", "state_key", "content", "prev_events", "auth_events", "depth")


class JoinFailed(Exception):
    """This server could not get us in: try the next."""


class RemoteJoinHandler:
    def __init__(self, server_name: str, signing_key: SigningKey, clock: Clock, events: EventsStore,
                 checker: EventChecker, persister: EventPersister, federation: FederationApi):
        self._server_name = server_name
        self._signing_key = signing_key
        self._clock = clock
        self._events = events
        self._checker = checker
        self._persister = persister
        self._federation = federation

    async def join(self, user_id: str, room_id: str, servers: list[str], content: dict[str, Any]) -> str:
        """Join `user_id` to the remote room through the first of `servers` that lets us in;
        returns the join's event ID. A refusal from the room's servers is passed on (e.g. 403)."""
        return await self._through_servers("join", room_id, servers,
                                           lambda server: self._join_via(server, user_id, room_id, content))

    async def _through_servers(self, what: str, room_id: str, servers: list[str],
                               attempt: Callable[[str], Awaitable[str]]) -> str:
        """`attempt(server)` through each of the room's servers (ours left out, 10 at most) until
        one succeeds. A refusal by a server (4xx with a Matrix error) is passed on when none
        succeeds; 404 when there is no server to try, 403 when this server federates with none of
        them, 502 when none could be reached."""
        candidates = [s for s in dict.fromkeys(servers) if s and s != self._server_name][:MAX_SERVERS_TRIED]
        if not candidates:
            raise not_found(f"No known servers to {what} the room through")
        refusal: MatrixError | None = None
        not_sent: list[DestinationRefused] = []  # the servers we do not send to at all
        for server in candidates:
            try:
                return await attempt(server)
            except FederationError as e:
                logger.info("%s %s through %s refused: %s %s", what, room_id, server, e.code, e.errcode)
                if 400 <= e.code < 500 and e.errcode:
                    refusal = MatrixError(e.code, e.errcode, e.error or f"The room's server refused the {what}")
            except (FederationClientError, JoinFailed) as e:
                logger.info("%s %s through %s failed: %s", what, room_id, server, e)
                if isinstance(e, DestinationRefused):
                    not_sent.append(e)
        if refusal is not None:
            raise refusal
        if len(not_sent) == len(candidates):
            raise not_sent[0].as_matrix_error()
        raise MatrixError(502, Codes.UNKNOWN, f"None of the room's servers could be reached to {what}")

    async def _join_via(self, server: str, user_id: str, room_id: str, content: dict[str, Any]) -> str:
        supported = list(KNOWN_ROOM_VERSIONS)
        answer = await self._federation.make_join(server, room_id, user_id, supported)
        if not isinstance(answer, dict):
            raise JoinFailed("make_join answered no object")
        room_version = KNOWN_ROOM_VERSIONS.get(answer.get("room_version", "1"))
        if room_version is None:
            raise MatrixError(400, Codes.INCOMPATIBLE_ROOM_VERSION, "The room's version is not supported here")
        pdu = self._fill_template(answer.get("event"), user_id, room_id, content, room_version)
        event_id = self._event_id(pdu, room_version)
        answer = await self._federation.send_join(server, room_id, event_id, pdu)
        if not isinstance(answer, dict) or not isinstance(answer.get("state"), list) \
                or not isinstance(answer.get("auth_chain"), list):
            raise JoinFailed("send_join answered without state and auth_chain")
        signed = answer.get("event")
        if isinstance(signed, dict) and room_version.restricted_join_rule:
            pdu = signed  # a restricted join, co-signed by the server that vouched for us
        try:
            join = await self._checker.check_received(pdu, room_version)
        except EventCheckError as e:
            raise JoinFailed(f"our join came back altered: {e}") from None
        if join.event_id != event_id:
            raise JoinFailed("our join came back altered")
        checked = await check_state_answer(self._checker, self._events, server, room_id, room_version,
                                           answer["state"], answer["auth_chain"], "join answer")
        state, chain, rejected = checked.state, checked.events, checked.rejected
        create = state.get(CREATE_KEY)
        if create is None:
            raise JoinFailed("the room's state has no valid create event")
        events = {**chain, **{e.event_id: e for e in state.values()}}
        state_ids = {k: e.event_id for k, e in state.items()}
        async with self._persister.room_lock.queue(room_id):
            await self._events.persist_outliers(room_id, room_version, create.sender, list(events.values()),
                                                rejected, self._clock.time_msec())
            reason = await self._checker.auth_against_state(join, state_ids)
            if reason is not None:
                raise MatrixError(403, Codes.FORBIDDEN, f"The join is not allowed: {reason}")
            if not await self._events.get_seen_event_ids([join.event_id]):
                await self._persister.persist(join, EventContext(None, state_ids))
        return join.event_id

    def _fill_template(self, template: Any, user_id: str, room_id: str, content: dict[str, Any],
                       room_version: RoomVersion, membership: str = "join") -> dict[str, Any]:
        if not isinstance(template, dict):
            raise JoinFailed(f"make_{membership} answered no event template")
        template_content = template.get("content")
        if template.get("type") != "m.room.member" or template.get("sender") != user_id \
                or template.get("state_key") != user_id or template.get("room_id") != room_id \
                or not isinstance(template_content, dict) or template_content.get("membership") != membership:
            raise JoinFailed(f"make_{membership} answered a template that is not our {membership}")
        pdu = {k: template[k] for k in TEMPLATE_KEYS if k in template}
        pdu["content"] = {**content, **{k: v for k, v in template_content.items()
                                        if k in ("membership", "join_authorised_via_users_server")}}
        pdu["origin_server_ts"] = self._clock.time_msec()
        if room_version.event_format is EventFormat.V1:
            pdu["event_id"] = f"${secrets.token_urlsafe(18)}:{self._server_name}"
            pdu["origin"] = self._server_name
        return sign_event(pdu, self._server_name, self._signing_key, room_version)

    # -- invites of other servers' users, and leaving rooms we do not hold ---------------------

    async def countersign_invite(self, room_version: RoomVersion, pdu: dict[str, Any], state_before: StateMap
                                 ) -> dict[str, Any]:
        """Our invite of another server's user, signed by that server too (spec: "Inviting to a
        room"): it gets the room's stripped state, as full events in the room's format, the
        create event among them (spec 1.16: `invite_room_state`); a refusal is passed on to the
        inviter."""
        target = pdu["state_key"]
        server = target.split(":", 1)[1]
        event_id = self._event_id(pdu, room_version)
        stripped = await stripped_state_of(self._events, state_before, pdu["sender"], full=True)
        try:
            answer = await self._federation.invite(server, pdu["room_id"], event_id, room_version.identifier, pdu,
                                                   stripped)
        except FederationError as e:
            if 400 <= e.code < 500 and e.errcode:
                raise MatrixError(e.code, e.errcode, e.error or "The invited user's server refused") from None
            raise MatrixError(502, Codes.UNKNOWN, "The invited user's server failed to answer") from None
        except DestinationRefused as e:
            raise e.as_matrix_error() from None
        except FederationClientError:
            raise MatrixError(502, Codes.UNKNOWN, "The invited user's server could not be reached") from None
        signed = answer.get("event") if isinstance(answer, dict) else None
        if not isinstance(signed, dict):
            raise MatrixError(502, Codes.UNKNOWN, "The invited user's server answered without the event")
        try:
            if self._event_id(signed, room_version) != event_id:
                raise EventCheckError("it is not the event we sent")
            await self._checker.check_signed(signed, server, room_version)
        except (EventCheckError, ValueError, KeyError, TypeError) as e:
            raise MatrixError(502, Codes.UNKNOWN, f"The invited user's server answered a bad event: {e}") from None
        return signed

    async def leave(self, user_id: str, room_id: str, servers: list[str], invite: Event | None) -> str:
        """Leave a room we do not hold (reject an invite, withdraw a knock) through the room's
        servers with make_leave/send_leave. When none of them can be reached, the leave is kept
        here only (the user no longer sees the invite; the room's servers never hear of it)."""
        candidates = [s for s in dict.fromkeys(servers) if s and s != self._server_name][:MAX_SERVERS_TRIED]
        not_sent: list[DestinationRefused] = []
        for server in candidates:
            try:
                answer = await self._federation.make_leave(server, room_id, user_id)
                room_version = KNOWN_ROOM_VERSIONS.get(answer.get("room_version", "1")) \
                    if isinstance(answer, dict) else None
                if room_version is None:
                    raise JoinFailed("make_leave answered no known room version")
                pdu = self._fill_template(answer.get("event"), user_id, room_id, {}, room_version, "leave")
                event_id = self._event_id(pdu, room_version)
                await self._federation.send_leave(server, room_id, event_id, pdu)
                persisted = await self._persister.persist_out_of_band_membership(
                    event_from_pdu(pdu, room_version), None)
                return persisted.event.event_id
            except (FederationClientError, JoinFailed) as e:
                logger.info("Leaving %s through %s failed: %s", room_id, server, e)
                if isinstance(e, DestinationRefused):
                    not_sent.append(e)
        if invite is None:
            if candidates and len(not_sent) == len(candidates):
                raise not_sent[0].as_matrix_error()
            raise MatrixError(502, Codes.UNKNOWN, "None of the room's servers could be reached to leave it")
        pdu = {"room_id": room_id, "sender": user_id, "type": "m.room.member", "state_key": user_id,
               "content": {"membership": "leave"}, "prev_events": [invite.event_id],
               "auth_events": [invite.event_id], "depth": invite.depth + 1,
               "origin_server_ts": self._clock.time_msec()}
        if invite.room_version.event_format is EventFormat.V1:
            pdu["event_id"] = f"${secrets.token_urlsafe(18)}:{self._server_name}"
        pdu = sign_event(pdu, self._server_name, self._signing_key, invite.room_version)
        persisted = await self._persister.persist_out_of_band_membership(
            event_from_pdu(pdu, invite.room_version), None)
        return persisted.event.event_id

    async def knock(self, user_id: str, room_id: str, servers: list[str], content: dict[str, Any]) -> str:
        """Knock on a room we do not hold (spec: "Knocking upon a room"): make_knock/send_knock
        through the first of `servers` that answers; the knock is kept with the room's stripped
        state so the user sees it."""
        async def attempt(server: str) -> str:
            answer = await self._federation.make_knock(server, room_id, user_id, list(KNOWN_ROOM_VERSIONS))
            room_version = KNOWN_ROOM_VERSIONS.get(answer.get("room_version", "")) if isinstance(answer, dict) \
                else None
            if room_version is None:
                raise JoinFailed("make_knock answered no known room version")
            pdu = self._fill_template(answer.get("event"), user_id, room_id, content, room_version, "knock")
            reply = await self._federation.send_knock(server, room_id, self._event_id(pdu, room_version), pdu)
            stripped = stripped_events(reply.get("knock_room_state") if isinstance(reply, dict) else None)
            persisted = await self._persister.persist_out_of_band_membership(event_from_pdu(pdu, room_version),
                                                                             stripped)
            return persisted.event.event_id

        return await self._through_servers("knock", room_id, servers, attempt)

    @staticmethod
    def _event_id(pdu: dict[str, Any], room_version: RoomVersion) -> str:
        return event_from_pdu(pdu, room_version).event_id
