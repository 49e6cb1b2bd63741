"""Third-party lookups (spec: client-server API, "Third-party networks"): bridges to other networks
(IRC, Slack...) are application services, which tell the homeserver the protocols they bridge
and answer lookups for them. This server has no application services, so it knows no protocol:
the protocol list is empty, a lookup in a named protocol finds no such protocol (404), and a
reverse lookup over all protocols finds nothing."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import not_found


class ThirdPartyLookupHandler:
    def get_protocols(self) -> dict[str, Any]:
        """protocol name -> its metadata, for every protocol a bridge here serves."""
        return {}

    def get_protocol(self, protocol: str) -> dict[str, Any]:
        return self._protocol(protocol)

    def query_locations(self, protocol: str, fields: dict[str, str]) -> list[dict[str, Any]]:
        """Portal rooms to a third-party location, asked of the bridges serving `protocol`."""
        self._protocol(protocol)
        return []

    def query_users(self, protocol: str, fields: dict[str, str]) -> list[dict[str, Any]]:
        """Matrix users for a third-party user, asked of the bridges serving `protocol`."""
        self._protocol(protocol)
        return []

    def locations_for_alias(self, alias: str) -> list[dict[str, Any]]:
        """The third-party locations bridged to the room alias, from every bridge."""
        return []

    def users_for_user_id(self, user_id: str) -> list[dict[str, Any]]:
        """The third-party users a Matrix user ID stands for, from every bridge."""
        return []

    def _protocol(self, protocol: str) -> dict[str, Any]:
        metadata = self.get_protocols().get(protocol)
        if metadata is None:
            raise not_found(f"Unknown third-party protocol {protocol!r}")
        return metadata
