"""Server ACLs (`m.room.server_acl`; spec: client-server API "Server Access Control Lists", the
event's schema, and server-server API "Server Access Control Lists").

A room's current ACL decides which servers may take part in it over federation, in this order:
1. no `m.room.server_acl` in the room's current state: allowed;
2. an IP literal name while `allow_ip_literals` is `false` (exactly: anything else counts as true):
   denied;
3. a name matching a `deny` glob: denied;
4. a name matching an `allow` glob: allowed;
5. otherwise denied (a missing or malformed `allow` is an empty list, so it denies everyone).

Names are compared without their port, case-insensitively, with the linear glob matcher
(`*` any run, `?` one character). Entries that are not strings are ignored, as is a `deny` that
is not a list. The ACL applies to every origin, ours included: an ACL that denies this server
still stands (the spec warns that it makes the room unusable; it does not ask servers to ignore
it). Our own server never makes federation requests to itself, so it only matters for what we
refuse from others."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from homeserver.api.errors import Codes, MatrixError
from homeserver.storage.events import EventsStore
from homeserver.util.caches import LruCache
from homeserver.util.glob import Glob

SERVER_ACL = ("m.room.server_acl", "")
# More globs than this in one list are not looked at (a bound on the work per request).
MAX_ACL_ENTRIES = 5000
# Answers remembered per compiled ACL (by host): a long deny list costs its scan once per server.
MAX_REMEMBERED_HOSTS = 10_000


def host_of(server_name: str) -> str:
    """The server name without its port (`[::1]:8448` -> `[::1]`, `example.org:80` -> `example.org`)."""
    if server_name.startswith("["):
        end = server_name.find("]")
        return server_name if end < 0 else server_name[:end + 1]
    return server_name.partition(":")[0]


def is_ip_literal(host: str) -> bool:
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _globs(value: Any) -> list[Glob]:
    if not isinstance(value, list):
        return []
    return [Glob(entry, ignore_case=True) for entry in value[:MAX_ACL_ENTRIES] if isinstance(entry, str)]


class ServerAcl:
    """A compiled `m.room.server_acl` content."""

    __slots__ = ("allow_ip_literals", "allow", "deny", "_answers")

    def __init__(self, content: Any):
        content = content if isinstance(content, Mapping) else {}
        self.allow_ip_literals = content.get("allow_ip_literals") is not False
        self.allow = _globs(content.get("allow"))
        self.deny = _globs(content.get("deny"))
        self._answers: dict[str, bool] = {}

    def allows(self, server_name: str) -> bool:
        host = host_of(server_name)
        answer = self._answers.get(host)
        if answer is None:
            answer = self._decide(host)
            if len(self._answers) >= MAX_REMEMBERED_HOSTS:
                self._answers.clear()
            self._answers[host] = answer
        return answer

    def _decide(self, host: str) -> bool:
        if not self.allow_ip_literals and is_ip_literal(host):
            return False
        if any(glob.matches(host) for glob in self.deny):
            return False
        return any(glob.matches(host) for glob in self.allow)


def server_allowed(acl_content: Any, server_name: str) -> bool:
    """Whether `server_name` may take part in a room whose ACL has this content (None: the room
    has no ACL)."""
    if acl_content is None:
        return True
    return ServerAcl(acl_content).allows(server_name)


class ServerAclChecker:
    """The ACL of a room's current state, applied to a requesting server. Compiled ACLs are kept
    by event ID (an ACL event never changes; a new one has a new ID)."""

    def __init__(self, events: EventsStore, cache_size: int = 1000):
        self._events = events
        self._compiled: LruCache[str, ServerAcl] = LruCache("server_acls", cache_size)

    async def is_allowed(self, server_name: str, room_id: str) -> bool:
        """False when the room's current ACL denies the server. Rooms we do not hold, or without
        an ACL, allow everyone (the endpoint decides what an unknown room means)."""
        state = await self._events.get_current_state_ids(room_id)
        event_id = state.get(SERVER_ACL)
        if event_id is None:
            return True
        acl = self._compiled.get(event_id)
        if acl is None:
            event = await self._events.get_event(event_id)
            if event is None:
                return True
            acl = ServerAcl(event.content)
            self._compiled.set(event_id, acl)
        return acl.allows(server_name)

    async def check(self, server_name: str, room_id: str) -> None:
        """403 M_FORBIDDEN when the room's ACL denies the server."""
        if not await self.is_allowed(server_name, room_id):
            raise MatrixError(403, Codes.FORBIDDEN, f"Server {server_name} is banned from this room by its server ACL")
