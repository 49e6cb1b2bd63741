"""Other servers' signing keys, as the key ring accepted them (federation/keys.py decides)."""

from __future__ import annotations

from dataclasses import dataclass

from homeserver.storage.database import Database, Transaction


@dataclass(frozen=True)
class StoredKey:
    server_name: str
    key_id: str
    verify_key: str  # unpadded base64
    valid_until_ts: int
    expired_ts: int | None


class ServerKeysStore:
    def __init__(self, db: Database):
        self._db = db

    async def get_keys(self, server_name: str) -> dict[str, StoredKey]:
        rows = await self._db.execute(
            "get_server_keys",
            "SELECT key_id, verify_key, valid_until_ts, expired_ts FROM server_signature_keys WHERE server_name = ?",
            server_name)
        return {r[0]: StoredKey(server_name, r[0], r[1], r[2], r[3]) for r in rows}

    async def store_response(self, server_name: str, from_server: str, valid_until_ts: int, response_json: str,
                             keys: list[StoredKey], now_ms: int) -> None:
        """Keep a checked key response and the keys it vouches for. A key already known keeps the
        later of the two validity times (an older response must not shorten it)."""

        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM server_key_responses WHERE server_name = ? AND from_server = ?",
                        (server_name, from_server))
            txn.execute("INSERT INTO server_key_responses (server_name, from_server, valid_until_ts, response_json, "
                        "ts_added) VALUES (?, ?, ?, ?, ?)", (server_name, from_server, valid_until_ts, response_json,
                                                             now_ms))
            for key in keys:
                row = txn.execute("SELECT verify_key, valid_until_ts, expired_ts FROM server_signature_keys "
                                  "WHERE server_name = ? AND key_id = ?", (key.server_name, key.key_id)).fetchone()
                if row is not None:
                    if row[0] != key.verify_key:
                        # A key ID names one key for good; a different key under it is not believed.
                        continue
                    if row[1] >= key.valid_until_ts and (row[2] or 0) == (key.expired_ts or 0):
                        continue
                    txn.execute("DELETE FROM server_signature_keys WHERE server_name = ? AND key_id = ?",
                                (key.server_name, key.key_id))
                    key = StoredKey(key.server_name, key.key_id, key.verify_key, max(row[1], key.valid_until_ts),
                                    key.expired_ts if key.expired_ts is not None else row[2])
                txn.execute("INSERT INTO server_signature_keys (server_name, key_id, verify_key, valid_until_ts, "
                            "expired_ts, from_server, ts_added) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (key.server_name, key.key_id, key.verify_key, key.valid_until_ts, key.expired_ts,
                             from_server, now_ms))

        await self._db.run("store_server_key_response", txn_fn)

    async def get_responses(self, server_name: str) -> list[tuple[str, int, str]]:
        """(from_server, valid_until_ts, response_json) of every stored response for the server."""
        rows = await self._db.execute(
            "get_server_key_responses",
            "SELECT from_server, valid_until_ts, response_json FROM server_key_responses WHERE server_name = ?",
            server_name)
        return [(r[0], r[1], r[2]) for r in rows]
