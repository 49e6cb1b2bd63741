"""The media repository's tables: local media IDs -> content-addressed files, thumbnails, URL previews."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.storage.database import IN_CHUNK, Database, Transaction

_MEDIA_COLUMNS = ("media_id, user_id, created_ts, unused_expires_ts, sha256, content_type, upload_name, size, "
                  "authenticated, last_access_ts, quarantined_by")


@dataclass(frozen=True)
class LocalMedia:
    media_id: str
    user_id: str
    created_ts: int
    unused_expires_ts: int | None
    sha256: str | None  # None: created with /create, content not uploaded yet
    content_type: str | None
    upload_name: str | None
    size: int
    authenticated: bool
    last_access_ts: int
    quarantined_by: str | None = None  # quarantined (admin API): served to nobody

    @property
    def uploaded(self) -> bool:
        return self.sha256 is not None

    @classmethod
    def from_row(cls, row: tuple) -> LocalMedia:
        return cls(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], bool(row[8]), row[9], row[10])


@dataclass(frozen=True)
class RemoteMedia:
    """A cached copy of mxc://<origin>/<media_id>."""

    origin: str
    media_id: str
    created_ts: int
    content_type: str
    upload_name: str | None
    size: int
    sha256: str
    authenticated: bool
    last_access_ts: int
    quarantined_by: str | None = None  # quarantined (admin API): served to nobody

    @classmethod
    def from_row(cls, row: tuple) -> RemoteMedia:
        return cls(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8],
                   row[9] if len(row) > 9 else None)


_REMOTE_COLUMNS = "origin, media_id, created_ts, content_type, upload_name, size, sha256, authenticated, last_access_ts"


@dataclass(frozen=True)
class Thumbnail:
    width: int  # the box it was made for (see thumbnails.py), not necessarily its own size
    height: int
    method: str
    animated: bool
    content_type: str
    sha256: str
    size: int


class MediaStore:
    def __init__(self, db: Database):
        self._db = db

    async def _write(self, desc: str, sql: str, *args: Any) -> None:
        await self._db.run(desc, lambda txn: txn.execute(sql, args))

    # -- local media ----------------------------------------------------------------------------

    async def create_pending(self, media_id: str, user_id: str, now: int, expires_ts: int,
                             authenticated: bool) -> None:
        await self._write(
            "create_pending_media",
            "INSERT INTO local_media (media_id, user_id, created_ts, unused_expires_ts, authenticated, last_access_ts) "
            "VALUES (?, ?, ?, ?, ?, ?)", media_id, user_id, now, expires_ts, int(authenticated), now)

    async def store_uploaded(self, media_id: str, user_id: str, now: int, sha256: str, content_type: str,
                             upload_name: str | None, size: int, authenticated: bool) -> None:
        await self._write(
            "store_uploaded_media",
            "INSERT INTO local_media (media_id, user_id, created_ts, sha256, content_type, upload_name, size, "
            "authenticated, last_access_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            media_id, user_id, now, sha256, content_type, upload_name, size, int(authenticated), now)

    async def fill_pending(self, media_id: str, now: int, sha256: str, content_type: str,
                           upload_name: str | None, size: int) -> bool:
        """Give a pending media ID its content; False if it was not pending (already filled, or gone)."""

        def txn_fn(txn: Transaction) -> bool:
            txn.execute("UPDATE local_media SET sha256 = ?, content_type = ?, upload_name = ?, size = ?, "
                        "unused_expires_ts = NULL, last_access_ts = ? WHERE media_id = ? AND sha256 IS NULL",
                        (sha256, content_type, upload_name, size, now, media_id))
            return txn.rowcount == 1

        return await self._db.run("fill_pending_media", txn_fn)

    async def get(self, media_id: str) -> LocalMedia | None:
        rows = await self._db.execute("get_local_media", f"SELECT {_MEDIA_COLUMNS} FROM local_media WHERE media_id = ?",
                                      media_id)
        return LocalMedia.from_row(rows[0]) if rows else None

    async def count_pending(self, user_id: str, now: int) -> int:
        rows = await self._db.execute(
            "count_pending_media",
            "SELECT COUNT(*) FROM local_media WHERE user_id = ? AND sha256 IS NULL AND unused_expires_ts > ?",
            user_id, now)
        return rows[0][0]

    async def usage(self, user_id: str) -> int:
        """Bytes of media the user has uploaded (each upload counted, even when the file is shared)."""
        rows = await self._db.execute("media_usage", "SELECT SUM(size) FROM local_media WHERE user_id = ?", user_id)
        return int(rows[0][0] or 0)

    async def touch(self, media_id: str, now: int) -> None:
        await self._write("touch_media", "UPDATE local_media SET last_access_ts = ? WHERE media_id = ?",
                               now, media_id)

    async def media_ids_of_user(self, user_id: str) -> list[str]:
        rows = await self._db.execute("media_of_user", "SELECT media_id FROM local_media WHERE user_id = ?", user_id)
        return [r[0] for r in rows]

    async def media_ids_unused_since(self, before_ts: int, limit: int) -> list[str]:
        """Uploaded media last used before `before_ts`, oldest first."""
        rows = await self._db.execute(
            "media_unused_since",
            "SELECT media_id FROM local_media WHERE sha256 IS NOT NULL AND last_access_ts < ? "
            "ORDER BY last_access_ts LIMIT ?", before_ts, limit)
        return [r[0] for r in rows]

    async def expired_pending(self, now: int, limit: int) -> list[str]:
        rows = await self._db.execute(
            "expired_pending_media",
            "SELECT media_id FROM local_media WHERE sha256 IS NULL AND unused_expires_ts <= ? LIMIT ?", now, limit)
        return [r[0] for r in rows]

    async def delete(self, media_ids: list[str]) -> list[str]:
        """Delete media rows and their thumbnails in one transaction. Returns the hashes that no row
        references any more: their files may go."""

        def txn_fn(txn: Transaction) -> list[str]:
            hashes = {r[0] for r in txn.select_in("SELECT sha256 FROM local_media WHERE sha256 IS NOT NULL "
                                                  "AND media_id {in}", media_ids)}
            hashes |= {r[0] for r in txn.select_in("SELECT sha256 FROM local_media_thumbnails WHERE media_id {in}",
                                                   media_ids)}
            for i in range(0, len(media_ids), IN_CHUNK):
                chunk = media_ids[i:i + IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                txn.execute(f"DELETE FROM local_media_thumbnails WHERE media_id IN ({marks})", chunk)
                txn.execute(f"DELETE FROM local_media WHERE media_id IN ({marks})", chunk)
            return [h for h in sorted(hashes) if not _hash_referenced(txn, h)]

        return await self._db.run("delete_media", txn_fn) if media_ids else []

    # -- thumbnails -----------------------------------------------------------------------------

    async def get_thumbnails(self, media_id: str, origin: str | None = None) -> list[Thumbnail]:
        """Thumbnails of local media, or (`origin` given) of cached remote media."""
        columns = "width, height, method, animated, content_type, sha256, size"
        if origin is None:
            rows = await self._db.execute(
                "get_thumbnails", f"SELECT {columns} FROM local_media_thumbnails WHERE media_id = ?", media_id)
        else:
            rows = await self._db.execute(
                "get_remote_thumbnails",
                f"SELECT {columns} FROM remote_media_thumbnails WHERE origin = ? AND media_id = ?", origin, media_id)
        return [Thumbnail(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6]) for r in rows]

    async def store_thumbnail(self, media_id: str, thumb: Thumbnail, origin: str | None = None) -> bool:
        """Record a thumbnail; False if the media was deleted meanwhile or the thumbnail exists."""

        def remote_txn(txn: Transaction) -> bool:
            if txn.execute("SELECT 1 FROM remote_media WHERE origin = ? AND media_id = ?",
                           (origin, media_id)).fetchone() is None:
                return False
            if txn.execute("SELECT 1 FROM remote_media_thumbnails WHERE origin = ? AND media_id = ? AND width = ? "
                           "AND height = ? AND method = ? AND animated = ?",
                           (origin, media_id, thumb.width, thumb.height, thumb.method,
                            int(thumb.animated))).fetchone():
                return False
            txn.execute("INSERT INTO remote_media_thumbnails (origin, media_id, width, height, method, animated, "
                        "content_type, sha256, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (origin, media_id, thumb.width, thumb.height, thumb.method, int(thumb.animated),
                         thumb.content_type, thumb.sha256, thumb.size))
            return True

        if origin is not None:
            return await self._db.run("store_remote_thumbnail", remote_txn)

        def txn_fn(txn: Transaction) -> bool:
            if txn.execute("SELECT 1 FROM local_media WHERE media_id = ?", (media_id,)).fetchone() is None:
                return False
            if txn.execute("SELECT 1 FROM local_media_thumbnails WHERE media_id = ? AND width = ? AND height = ? "
                           "AND method = ? AND animated = ?",
                           (media_id, thumb.width, thumb.height, thumb.method, int(thumb.animated))).fetchone():
                return False
            txn.execute("INSERT INTO local_media_thumbnails (media_id, width, height, method, animated, "
                        "content_type, sha256, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (media_id, thumb.width, thumb.height, thumb.method, int(thumb.animated), thumb.content_type,
                         thumb.sha256, thumb.size))
            return True

        return await self._db.run("store_thumbnail", txn_fn)

    async def is_hash_referenced(self, sha256: str) -> bool:
        return await self._db.run("is_hash_referenced", _hash_referenced, sha256)

    # -- remote media ---------------------------------------------------------------------------

    async def get_remote(self, origin: str, media_id: str) -> RemoteMedia | None:
        rows = await self._db.execute(
            "get_remote_media",
            f"SELECT {_REMOTE_COLUMNS}, quarantined_by FROM remote_media WHERE origin = ? AND media_id = ?",
            origin, media_id)
        return RemoteMedia.from_row(rows[0]) if rows else None

    async def store_remote(self, media: RemoteMedia) -> bool:
        """Record a fetched copy; False if one is recorded already (that one stays)."""

        def txn_fn(txn: Transaction) -> bool:
            if txn.execute("SELECT 1 FROM remote_media WHERE origin = ? AND media_id = ?",
                           (media.origin, media.media_id)).fetchone():
                return False
            txn.execute(f"INSERT INTO remote_media ({_REMOTE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (media.origin, media.media_id, media.created_ts, media.content_type, media.upload_name,
                         media.size, media.sha256, int(media.authenticated), media.last_access_ts))
            return True

        return await self._db.run("store_remote_media", txn_fn)

    async def touch_remote(self, origin: str, media_id: str, now: int) -> None:
        await self._write("touch_remote_media",
                          "UPDATE remote_media SET last_access_ts = ? WHERE origin = ? AND media_id = ?",
                          now, origin, media_id)

    async def remote_unused_since(self, before_ts: int, limit: int) -> list[tuple[str, str]]:
        """(origin, media_id) of cached remote media last used before `before_ts`, oldest first."""
        rows = await self._db.execute(
            "remote_media_unused_since",
            "SELECT origin, media_id FROM remote_media WHERE last_access_ts < ? ORDER BY last_access_ts LIMIT ?",
            before_ts, limit)
        return [(r[0], r[1]) for r in rows]

    async def delete_remote(self, origin: str, media_id: str) -> list[str]:
        """Drop a cached remote media and its thumbnails; the hashes no row references any more."""

        def txn_fn(txn: Transaction) -> list[str]:
            hashes = {r[0] for r in txn.execute("SELECT sha256 FROM remote_media WHERE origin = ? AND media_id = ?",
                                                (origin, media_id)).fetchall()}
            hashes |= {r[0] for r in txn.execute(
                "SELECT sha256 FROM remote_media_thumbnails WHERE origin = ? AND media_id = ?",
                (origin, media_id)).fetchall()}
            txn.execute("DELETE FROM remote_media_thumbnails WHERE origin = ? AND media_id = ?", (origin, media_id))
            txn.execute("DELETE FROM remote_media WHERE origin = ? AND media_id = ?", (origin, media_id))
            return [h for h in sorted(hashes) if not _hash_referenced(txn, h)]

        return await self._db.run("delete_remote_media", txn_fn)

    # -- URL previews ---------------------------------------------------------------------------

    # -- quarantine and protection (admin API) ----------------------------------------------------

    async def quarantine_local(self, media_ids: list[str], by: str | None) -> int:
        """Quarantine (`by`: the admin) or release (None) local media; protected media are never
        quarantined. Returns how many changed."""

        def txn_fn(txn: Transaction) -> int:
            changed = 0
            for i in range(0, len(media_ids), IN_CHUNK):
                chunk = media_ids[i:i + IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                if by is None:
                    txn.execute(f"UPDATE local_media SET quarantined_by = NULL WHERE media_id IN ({marks}) "
                                "AND quarantined_by IS NOT NULL", chunk)
                else:
                    txn.execute(f"UPDATE local_media SET quarantined_by = ? WHERE media_id IN ({marks}) "
                                "AND safe_from_quarantine = ? AND quarantined_by IS NULL", [by, *chunk, False])
                changed += txn.rowcount
            return changed

        return await self._db.run("quarantine_local_media", txn_fn) if media_ids else 0

    async def quarantine_remote(self, media: list[tuple[str, str]], by: str | None) -> int:
        """The same for cached copies of other servers' media, (origin, media_id) each."""

        def txn_fn(txn: Transaction) -> int:
            changed = 0
            for origin, media_id in media:
                txn.execute("UPDATE remote_media SET quarantined_by = ? WHERE origin = ? AND media_id = ?",
                            (by, origin, media_id))
                changed += txn.rowcount
            return changed

        return await self._db.run("quarantine_remote_media", txn_fn) if media else 0

    async def set_protected(self, media_id: str, protected: bool) -> bool:
        """Protect local media from quarantine (and from deletion by date); False if unknown."""

        def txn_fn(txn: Transaction) -> bool:
            txn.execute("UPDATE local_media SET safe_from_quarantine = ? WHERE media_id = ?", (protected, media_id))
            return txn.rowcount > 0

        return await self._db.run("protect_media", txn_fn)

    async def deletable_before(self, before_ts: int, size_gt: int, keep: set[str], limit: int) -> list[str]:
        """Local media last used before `before_ts`, bigger than `size_gt` bytes, not protected,
        not in `keep` (avatars): oldest first, at most `limit`."""
        rows = await self._db.execute(
            "media_deletable_before",
            "SELECT media_id FROM local_media WHERE last_access_ts < ? AND size > ? AND safe_from_quarantine = ? "
            "ORDER BY last_access_ts, media_id", before_ts, size_gt, False)
        return [r[0] for r in rows if r[0] not in keep][:limit]

    async def avatar_urls(self) -> set[str]:
        """Every user's avatar_url (mxc URIs): media still shown as a profile picture."""
        rows = await self._db.execute("avatar_urls", "SELECT DISTINCT avatar_url FROM profiles "
                                      "WHERE avatar_url IS NOT NULL")
        return {r[0] for r in rows}

    async def get_url_preview(self, url: str, now: int) -> str | None:
        rows = await self._db.execute("get_url_preview",
                                      "SELECT og_json FROM url_previews WHERE url = ? AND expires_ts > ?", url, now)
        return rows[0][0] if rows else None

    async def store_url_preview(self, url: str, now: int, expires_ts: int, og_json: str) -> None:
        def txn_fn(txn: Transaction) -> None:
            txn.execute("DELETE FROM url_previews WHERE url = ?", (url,))
            txn.execute("INSERT INTO url_previews (url, fetched_ts, expires_ts, og_json) VALUES (?, ?, ?, ?)",
                        (url, now, expires_ts, og_json))

        await self._db.run("store_url_preview", txn_fn)

    async def delete_expired_url_previews(self, now: int) -> None:
        await self._write("expire_url_previews", "DELETE FROM url_previews WHERE expires_ts <= ?", now)


def _hash_referenced(txn: Transaction, sha256: str) -> bool:
    """Whether any local or cached remote media, or thumbnail of either, uses this file."""
    return any(txn.execute(f"SELECT 1 FROM {table} WHERE sha256 = ?", (sha256,)).fetchone() is not None
               for table in ("local_media", "local_media_thumbnails", "remote_media", "remote_media_thumbnails"))
