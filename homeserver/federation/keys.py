"""Server signing keys as the event checker sees them (a KeyRing: server name and key IDs ->
verify keys valid at a time).

Today only our own key is known: events signed by other servers do not verify until the
federation key fetching (direct and through notaries, cached until `valid_until_ts`) replaces
this ring."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from signedjson.key import SigningKey, VerifyKey, get_verify_key


class OwnKeyRing:
    def __init__(self, server_name: str, signing_key: SigningKey):
        self._server_name = server_name
        self._key_id = f"{signing_key.alg}:{signing_key.version}"
        self._verify_key = get_verify_key(signing_key)

    async def verify_keys(self, server_name: str, key_ids: Iterable[str], at_ms: int) -> Mapping[str, VerifyKey]:
        if server_name == self._server_name and self._key_id in key_ids:
            return {self._key_id: self._verify_key}
        return {}
