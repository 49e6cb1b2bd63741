"""End-to-end encryption keys: device identity keys, one-time and fallback keys, cross-signing keys
and uploaded signatures. Key objects are stored as canonical JSON text and handed back parsed."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from canonicaljson import encode_canonical_json

from homeserver.storage.database import Database, Transaction
from homeserver.util.caches import CacheRead, LruCache


def _dump(value: Any) -> str:
    return encode_canonical_json(value).decode("utf-8")


CLAIM_CHUNK = 200  # devices per bulk claim statement


class StaleDeviceKeys(Exception):
    """The stored device keys are not what the caller read (a concurrent upload changed them)."""


class OneTimeKeyConflict(Exception):
    """A one-time key ID is already taken by a different key (args[0]: "<algorithm>:<key_id>")."""


class CrossSigningKey(NamedTuple):
    key_type: str  # "master", "self_signing" or "user_signing"
    public_key: str
    key: dict[str, Any]


class Signature(NamedTuple):
    signer_user_id: str
    signer_key_id: str
    target_user_id: str
    target_key_id: str
    signature: str


class QueryKeys(NamedTuple):
    existing_users: set[str]
    device_keys: dict[str, dict[str, tuple[dict[str, Any], str | None]]]  # user -> device -> (keys, name)
    cross_signing: dict[str, dict[str, CrossSigningKey]]  # user -> key type -> key
    signatures: list[Signature]  # uploaded signatures on these users' keys


class E2EKeysStore:
    def __init__(self, db: Database):
        self._db = db
        # (user_id, device_id) -> (one-time key counts by algorithm, unused fallback key types):
        # every /sync of every device reports them. Dropped after the commit of each write to
        # those keys (upload, claim, device deletion); a read that raced with a write (and may
        # have seen the old rows) does not fill it (see LruCache).
        self._key_counts: LruCache[tuple[str, str], tuple[dict[str, int], list[str]]] = LruCache(
            "e2e_key_counts", 50_000)
        # user_id -> device_id -> (decoded device keys, device display name) for every device of
        # the user that has keys: what /keys/query reads for each queried user. Dropped after the
        # commit of every write that changes a device's keys, name or existence (key upload,
        # device creation, rename, deletion); same rule for racing reads. The values are shared:
        # callers must not change them (they build their own dicts around them). Signatures and
        # cross-signing keys are not cached: they are read fresh each time.
        self._device_keys: LruCache[str, dict[str, tuple[dict[str, Any], str | None]]] = LruCache(
            "e2e_device_keys", 20_000)
        # The fast path of a claim. PostgreSQL: per device, in one global order, skipping keys
        # other claims have locked instead of queueing behind them (the one-by-one path after it
        # waits, so a fallback key is handed out only when no key is left at all); locks are taken
        # in the same order by every claim, so claims never deadlock. SQLite has a single writer,
        # nothing to wait for or skip: every device's first key in one statement.
        self._take_first_free_key: str | None = None
        self._take_first_free_keys_bulk: str | None = None
        if db.engine.name == "psycopg2":
            self._take_first_free_key = (
                "DELETE FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = "
                "(SELECT key_id FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? "
                "ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING key_id, key_json")
        else:
            self._take_first_free_keys_bulk = (
                "DELETE FROM e2e_one_time_keys WHERE (user_id, device_id, algorithm, key_id) IN "
                "(SELECT user_id, device_id, algorithm, MIN(key_id) FROM e2e_one_time_keys "
                "WHERE (user_id, device_id, algorithm) IN (VALUES {values}) GROUP BY user_id, device_id, algorithm) "
                "RETURNING user_id, device_id, key_id, key_json")

    # -- device identity keys -------------------------------------------------------------------

    async def upload_keys(self, user_id: str, device_id: str, device_keys: dict[str, Any] | None,
                          replaces: dict[str, Any] | None, one_time: list[tuple[str, str, Any]],
                          fallback: list[tuple[str, str, Any]], now_ms: int, drop_old_keys: bool = False) -> None:
        """Store a device's uploaded keys in one transaction: all or nothing.
        device_keys: the new identity keys (None: unchanged), written only if what is stored is
        still `replaces` (None: nothing stored), else StaleDeviceKeys. one_time: (algorithm, key_id,
        key); a key ID already taken by a different key raises OneTimeKeyConflict. fallback: one
        per algorithm, replacing the previous one, unused (the same key again is left as it is,
        so a retried upload does not make a handed-out key look fresh). drop_old_keys: first delete
        the device's one-time and fallback keys and the signatures on its device keys."""

        def txn_fn(txn: Transaction) -> None:
            if device_keys is not None:
                if replaces is None:
                    txn.execute("INSERT INTO e2e_device_keys (user_id, device_id, key_json, ts) VALUES (?, ?, ?, ?) "
                                "ON CONFLICT (user_id, device_id) DO NOTHING",
                                (user_id, device_id, _dump(device_keys), now_ms))
                else:
                    txn.execute("UPDATE e2e_device_keys SET key_json = ?, ts = ? WHERE user_id = ? AND device_id = ? "
                                "AND key_json = ?", (_dump(device_keys), now_ms, user_id, device_id, _dump(replaces)))
                if txn.rowcount != 1:
                    raise StaleDeviceKeys()
            if drop_old_keys:
                for table in ("e2e_one_time_keys", "e2e_fallback_keys"):
                    txn.execute(f"DELETE FROM {table} WHERE user_id = ? AND device_id = ?",  # noqa: S608 constant
                                (user_id, device_id))
                txn.execute("DELETE FROM e2e_signatures WHERE target_user_id = ? AND target_key_id = ?",
                            (user_id, device_id))
            for algorithm, key_id, key in one_time:
                txn.execute("INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, ts) "
                            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, device_id, algorithm, key_id) "
                            "DO NOTHING", (user_id, device_id, algorithm, key_id, _dump(key), now_ms))
                if txn.rowcount == 0:
                    row = txn.execute("SELECT key_json FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? "
                                      "AND algorithm = ? AND key_id = ?",
                                      (user_id, device_id, algorithm, key_id)).fetchone()
                    if row is not None and json.loads(row[0]) != key:
                        raise OneTimeKeyConflict(f"{algorithm}:{key_id}")
            for algorithm, key_id, key in fallback:
                row = txn.execute("SELECT key_id, key_json FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? "
                                  "AND algorithm = ?", (user_id, device_id, algorithm)).fetchone()
                if row is not None and row[0] == key_id and json.loads(row[1]) == key:
                    continue
                txn.execute("DELETE FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND algorithm = ?",
                            (user_id, device_id, algorithm))
                txn.execute("INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (user_id, device_id, algorithm, key_id, _dump(key), False))

            txn.call_after_commit(lambda: self._forget_key_counts([(user_id, device_id)]))
            txn.call_after_commit(lambda: self.forget_device_keys(user_id))

        await self._db.run("upload_keys", txn_fn)

    async def get_device_keys(self, queries: list[tuple[str, str | None]]) -> dict[str, dict[str, tuple[dict[str, Any], str | None]]]:
        """user_id -> device_id -> (keys, device display name) for (user_id, device_id or None for
        all devices) pairs. Only devices that still exist are returned. The keys are shared with
        the cache: read them, do not change them."""
        with self._device_keys.reading() as ticket:
            found, read = await self._db.run("get_device_keys", self._device_keys_txn, queries)
            self._cache_device_keys(ticket, read)
        return found

    def _device_keys_txn(self, txn: Transaction, queries: list[tuple[str, str | None]]
                         ) -> tuple[dict[str, dict[str, tuple[dict[str, Any], str | None]]],
                                    dict[str, dict[str, tuple[dict[str, Any], str | None]]]]:
        """(what was asked for, the users' devices read from the database to be cached). Whole
        users are read even when only some of their devices are asked for: one cache entry each.
        Runs on a database thread: only peek() at the cache."""
        by_user: dict[str, dict[str, tuple[dict[str, Any], str | None]]] = {}
        missing = []
        for user_id in sorted({u for u, _ in queries}):
            cached = self._device_keys.peek(user_id)
            if cached is None:
                missing.append(user_id)
            else:
                by_user[user_id] = cached
        read: dict[str, dict[str, tuple[dict[str, Any], str | None]]] = {u: {} for u in missing}
        for user_id, device_id, key_json, display_name in txn.select_in(
                "SELECT k.user_id, k.device_id, k.key_json, d.display_name FROM e2e_device_keys k "
                "JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id WHERE k.user_id {in}",
                missing):
            read[user_id][device_id] = (json.loads(key_json), display_name)
        by_user.update(read)
        whole_users = {u for u, d in queries if d is None}
        out: dict[str, dict[str, tuple[dict[str, Any], str | None]]] = {}
        for user_id, device_id in queries:
            devices = by_user[user_id]
            if user_id in whole_users:
                if devices:
                    out[user_id] = dict(devices)
            elif device_id in devices:
                out.setdefault(user_id, {})[device_id] = devices[device_id]
        return out, read

    @staticmethod
    def _cache_device_keys(ticket: CacheRead, read: dict[str, dict[str, tuple[dict[str, Any], str | None]]]
                           ) -> None:
        for user_id, devices in read.items():
            ticket.fill(user_id, devices)

    def forget_device_keys(self, user_id: str, deleted: bool = False) -> None:
        """After the commit of a change to one of the user's devices' keys, names or existence
        (also a `DevicesStore.change_listeners` listener, hence `deleted`)."""
        self._device_keys.pop(user_id)

    async def get_keys_for_query(self, wanted: dict[str, list[str]]) -> QueryKeys:
        """Everything /keys/query shows of these local users (device IDs: [] for all), in one
        transaction: a consistent view, one round trip. Device keys come from the cache when
        there (shared with it: read them, do not change them)."""
        def txn_fn(txn: Transaction) -> tuple[QueryKeys, dict[str, dict[str, tuple[dict[str, Any], str | None]]]]:
            existing = {r[0] for r in txn.select_in("SELECT user_id FROM users WHERE user_id {in}", sorted(wanted))}
            queries: list[tuple[str, str | None]] = []
            for user_id in sorted(existing):
                queries += [(user_id, d) for d in wanted[user_id]] if wanted[user_id] else [(user_id, None)]
            users = sorted(existing)
            device_keys, read = self._device_keys_txn(txn, queries)
            return QueryKeys(existing, device_keys, self._cross_signing_keys_txn(txn, users),
                             self._signatures_txn(txn, users)), read

        with self._device_keys.reading() as ticket:
            found, read = await self._db.run("get_keys_for_query", txn_fn)
            self._cache_device_keys(ticket, read)
        return found

    async def get_stored_device_keys(self, user_id: str, device_id: str) -> dict[str, Any] | None:
        """The device's stored keys, whether or not the device row exists (yet)."""
        rows = await self._db.execute(
            "get_stored_device_keys", "SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?",
            user_id, device_id)
        return json.loads(rows[0][0]) if rows else None

    def delete_devices_keys_txn(self, txn: Transaction, user_id: str, device_ids: list[str]) -> None:
        """Runs inside the transaction that deletes these devices: their keys go with them."""
        for device_id in device_ids:
            for table in ("e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys"):
                txn.execute(f"DELETE FROM {table} WHERE user_id = ? AND device_id = ?",  # noqa: S608 constant
                            (user_id, device_id))
            txn.execute("DELETE FROM e2e_signatures WHERE target_user_id = ? AND target_key_id = ?",
                        (user_id, device_id))
        txn.call_after_commit(lambda: self._forget_key_counts([(user_id, d) for d in device_ids]))
        txn.call_after_commit(lambda: self.forget_device_keys(user_id))

    # -- one-time and fallback keys -------------------------------------------------------------

    async def count_one_time_keys(self, user_id: str, device_id: str) -> dict[str, int]:
        return dict((await self._get_key_counts(user_id, device_id))[0])

    async def get_unused_fallback_key_types(self, user_id: str, device_id: str) -> list[str]:
        return list((await self._get_key_counts(user_id, device_id))[1])

    async def _get_key_counts(self, user_id: str, device_id: str) -> tuple[dict[str, int], list[str]]:
        """The cached pair itself: callers copy what they hand out."""
        def txn_fn(txn: Transaction) -> tuple[dict[str, int], list[str]]:
            counts = txn.execute(
                "SELECT algorithm, COUNT(*) FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? "
                "GROUP BY algorithm", (user_id, device_id)).fetchall()
            fallback = txn.execute(
                "SELECT algorithm FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND used = ? "
                "ORDER BY algorithm", (user_id, device_id, False)).fetchall()
            return {algorithm: count for algorithm, count in counts}, [r[0] for r in fallback]

        return await self._key_counts.get_or_load((user_id, device_id),
                                                  lambda: self._db.run("get_e2e_key_counts", txn_fn))

    def _forget_key_counts(self, devices: list[tuple[str, str]]) -> None:
        for device in devices:
            self._key_counts.pop(device)

    async def claim_keys(self, claims: list[tuple[str, str, str]]
                         ) -> dict[tuple[str, str], tuple[str, Any]]:
        """(user_id, device_id, algorithm) -> (key_id, key): a one-time key, deleted as it is
        taken, or else the fallback key, marked used. Concurrent claimers never get the same
        one-time key: the DELETE decides, and a claimer whose DELETE found the row already gone
        (taken by a concurrent transaction) moves on to the next key."""
        return await self._db.run("claim_keys", self.claim_keys_txn, claims) if claims else {}

    def claim_keys_txn(self, txn: Transaction, claims: list[tuple[str, str, str]]
                       ) -> dict[tuple[str, str], tuple[str, Any]]:
        out: dict[tuple[str, str], tuple[str, Any]] = {}
        devices = sorted(set(claims))
        bulk = self._take_first_free_keys_bulk
        for i in range(0, len(devices), CLAIM_CHUNK) if bulk is not None else ():
            chunk = devices[i:i + CLAIM_CHUNK]
            sql = bulk.format(values=", ".join(["(?, ?, ?)"] * len(chunk)))
            for user_id, device_id, key_id, key_json in txn.execute(sql, [v for d in chunk for v in d]).fetchall():
                out[(user_id, device_id)] = (key_id, json.loads(key_json))
        for user_id, device_id, algorithm in devices:
            if (user_id, device_id) in out:
                continue
            device = (user_id, device_id, algorithm)
            claimed = None
            if self._take_first_free_key:
                claimed = txn.execute(self._take_first_free_key, device + device).fetchone()
            while claimed is None:  # none left, or a concurrent claim took the first one
                candidate = txn.execute(
                    "SELECT MIN(key_id) FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? "
                    "AND algorithm = ?", device).fetchone()
                if candidate is None or candidate[0] is None:
                    break
                claimed = txn.execute(
                    "DELETE FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? "
                    "AND key_id = ? RETURNING key_id, key_json", (*device, candidate[0])).fetchone()
            if claimed is None:
                claimed = txn.execute(
                    "UPDATE e2e_fallback_keys SET used = ? WHERE user_id = ? AND device_id = ? AND algorithm = ? "
                    "RETURNING key_id, key_json", (True, *device)).fetchone()
            if claimed is not None:
                out[(user_id, device_id)] = (claimed[0], json.loads(claimed[1]))
        claimed_devices = list(out)
        txn.call_after_commit(lambda: self._forget_key_counts(claimed_devices))
        return out

    # -- cross-signing keys and signatures -----------------------------------------------------------

    async def get_cross_signing_keys(self, user_ids: list[str]) -> dict[str, dict[str, CrossSigningKey]]:
        """user_id -> key_type -> key."""
        return await self._db.run("get_cross_signing_keys", self._cross_signing_keys_txn, user_ids) if user_ids else {}

    @staticmethod
    def _cross_signing_keys_txn(txn: Transaction, user_ids: list[str]) -> dict[str, dict[str, CrossSigningKey]]:
        out: dict[str, dict[str, CrossSigningKey]] = {}
        for user_id, key_type, public_key, key_json in txn.select_in(
                "SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys WHERE user_id {in}",
                user_ids):
            out.setdefault(user_id, {})[key_type] = CrossSigningKey(key_type, public_key, json.loads(key_json))
        return out

    async def set_cross_signing_keys(self, user_id: str, keys: list[CrossSigningKey], now_ms: int) -> None:
        """Store (or replace) keys; signatures made by a replaced key go with it."""

        def txn_fn(txn: Transaction) -> None:
            for key in keys:
                old = txn.execute("SELECT public_key FROM e2e_cross_signing_keys WHERE user_id = ? AND key_type = ?",
                                  (user_id, key.key_type)).fetchone()
                if old is not None and old[0] != key.public_key:
                    txn.execute("DELETE FROM e2e_signatures WHERE signer_user_id = ? AND signer_key_id = ?",
                                (user_id, "ed25519:" + old[0]))
                    txn.execute("DELETE FROM e2e_signatures WHERE target_user_id = ? AND target_key_id = ?",
                                (user_id, old[0]))
                txn.execute("DELETE FROM e2e_cross_signing_keys WHERE user_id = ? AND key_type = ?",
                            (user_id, key.key_type))
                txn.execute("INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json, ts) "
                            "VALUES (?, ?, ?, ?, ?)", (user_id, key.key_type, key.public_key, _dump(key.key), now_ms))

        await self._db.run("set_cross_signing_keys", txn_fn)

    async def add_signatures(self, signatures: list[Signature]) -> None:
        def txn_fn(txn: Transaction) -> None:
            for s in signatures:
                txn.execute("DELETE FROM e2e_signatures WHERE target_user_id = ? AND target_key_id = ? "
                            "AND signer_user_id = ? AND signer_key_id = ?",
                            (s.target_user_id, s.target_key_id, s.signer_user_id, s.signer_key_id))
                txn.execute("INSERT INTO e2e_signatures (signer_user_id, signer_key_id, target_user_id, "
                            "target_key_id, signature) VALUES (?, ?, ?, ?, ?)", s)

        if signatures:
            await self._db.run("add_signatures", txn_fn)

    @staticmethod
    def _signatures_txn(txn: Transaction, target_user_ids: list[str]) -> list[Signature]:
        """Every uploaded signature on the keys of these users."""
        return [Signature(*r) for r in txn.select_in(
            "SELECT signer_user_id, signer_key_id, target_user_id, target_key_id, signature FROM e2e_signatures "
            "WHERE target_user_id {in}", target_user_ids)]
