"""A resolver that answers from a table (tests swap it into HomeServer.outbound)."""

from __future__ import annotations

import ipaddress

from homeserver.federation.discovery import SrvRecord
from homeserver.outbound.ranges import IPAddress


class StaticResolver:
    """`names` maps a hostname to the addresses it resolves to; other names resolve to nothing.
    Each lookup is recorded, so a test can see that a name was resolved (once per connection)."""

    def __init__(self, names: dict[str, list[str]]):
        self._names = {k: [ipaddress.ip_address(a) for a in v] for k, v in names.items()}
        self.lookups: list[str] = []

    async def resolve(self, hostname: str, port: int) -> list[IPAddress]:
        self.lookups.append(hostname)
        return list(self._names.get(hostname, []))


class StaticSrvResolver:
    """SRV records from a table (`name` -> records); other names have none. Lookups are recorded."""

    def __init__(self, records: dict[str, list[SrvRecord]] | None = None):
        self.records = records or {}
        self.lookups: list[str] = []

    async def lookup_srv(self, name: str) -> list[SrvRecord]:
        self.lookups.append(name)
        return list(self.records.get(name, []))
