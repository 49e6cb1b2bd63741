"""The media repository: uploads (direct and asynchronous), downloads, thumbnails, deletion, retention.

Files are content-addressed (MediaFileStore); the database maps media IDs to hashes. Writing or
removing a file and adding or dropping the rows that reference its hash happen under a per-hash
lock, so a deletion can never remove a file an upload has just been deduplicated onto."""

from __future__ import annotations

import logging
import re
import secrets
import string
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from twisted.internet import defer, threads
from twisted.python.failure import Failure

from homeserver.api.errors import Codes, LimitExceeded, MatrixError, forbidden, not_found
from homeserver.api.identifiers import is_valid_server_name
from homeserver.clock import Clock
from homeserver.handlers.media import thumbnails
from homeserver.handlers.media.config import MediaConfig, ThumbnailSize
from homeserver.handlers.media.filestore import MediaFileStore, TooLargeWhileWriting
from homeserver.handlers.media.remote import RemoteMediaFetcher
from homeserver.storage.media import LocalMedia, MediaStore, RemoteMedia, Thumbnail
from homeserver.util.cpu_pool import CpuPool, LimitedRunner

logger = logging.getLogger(__name__)
T = TypeVar("T")

MEDIA_ID_LENGTH = 24
DEFAULT_TIMEOUT_MS = 20_000
MAX_TIMEOUT_MS = 60_000  # the spec asks for a cap on how long a download waits for an async upload
# A download refreshes the "last used" time at most this often: retention counts in days.
TOUCH_INTERVAL_MS = 3600_000
RETENTION_BATCH = 500
# Thumbnail boxes are stored in 32-bit columns. A side longer than the image gives the same
# thumbnail however long it is, and no image is this wide, so asking for more is asking for this.
MAX_THUMBNAIL_SIDE = 2**31 - 1
# Decoding an image takes up to 4 bytes per pixel (128 MB at the default max_image_pixels):
# at most this many thumbnails are made at once, the others wait their turn.
MAX_CONCURRENT_THUMBNAILS = 2
NOT_YET_UPLOADED = "M_NOT_YET_UPLOADED"
CANNOT_OVERWRITE_MEDIA = "M_CANNOT_OVERWRITE_MEDIA"

_MEDIA_ID_RE = re.compile(r"[A-Za-z0-9_-]+")


# A malformed MXC URI names no content: 404 M_NOT_FOUND, the answer the spec gives for downloads,
# thumbnails and uploads to an MXC URI that was never created.
def check_server_name(server_name: str) -> None:
    if not is_valid_server_name(server_name):
        raise MatrixError(404, Codes.NOT_FOUND, f"No such content: {server_name!r} is not a server name")


def check_media_id(media_id: str) -> None:
    if not _MEDIA_ID_RE.fullmatch(media_id) or len(media_id) > 255:
        raise MatrixError(404, Codes.NOT_FOUND,
                          "No such content: media IDs only contain A-Z, a-z, 0-9, '_' and '-'")


@dataclass(frozen=True)
class ServedFile:
    """What the REST layer streams: a file on disk and how to label it."""

    path: str
    content_type: str
    size: int
    upload_name: str | None


class KeyedLock:
    """One lock per key (here: per content hash), dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[defer.DeferredLock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> Any:
        lock, users = self._locks.setdefault(key, (defer.DeferredLock(), [0]))
        users[0] += 1
        try:
            await lock.acquire()
            try:
                yield
            finally:
                lock.release()
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]


class MediaRepository:
    def __init__(self, config: MediaConfig, server_name: str, clock: Clock, reactor: Any, store: MediaStore,
                 cpu_pool: CpuPool, remote: RemoteMediaFetcher | None = None):
        """`remote`: fetches other servers' media (None: remote media is not available)."""
        self.config = config
        self._remote = remote
        # One fetch per remote media at a time: later requests wait for the first one's result.
        self._fetching: dict[tuple[str, str], list[defer.Deferred]] = {}
        # Image decoding runs on the CPU pool, never more than MAX_CONCURRENT_THUMBNAILS at once.
        self.thumbnailer = LimitedRunner(cpu_pool, MAX_CONCURRENT_THUMBNAILS)
        thumbnails.limit_pillow(config.max_image_pixels)
        self._server_name = server_name
        self._clock = clock
        self._reactor = reactor
        self._store = store
        self.files = MediaFileStore(config.store_path)
        self._hash_locks = KeyedLock()
        # Bytes of uploads in progress per user, counted against the quota until recorded, so
        # parallel uploads cannot together go past it (checked and changed under the user's lock).
        self._quota_locks = KeyedLock()
        self._reserved: dict[str, int] = {}
        self._upload_waiters: dict[str, list[defer.Deferred]] = {}

    def start(self) -> None:
        self.files.setup()

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await threads.deferToThreadPool(self._reactor, self._reactor.getThreadPool(), fn, *args)

    def _mxc(self, media_id: str) -> str:
        return f"mxc://{self._server_name}/{media_id}"

    # -- uploading ------------------------------------------------------------------------------

    async def upload(self, user_id: str, content: BinaryIO, content_type: str | None,
                     upload_name: str | None) -> str:
        """Store a new upload; returns its mxc:// URI."""
        media_id = _new_media_id()
        async with self._room_for(user_id, _content_size(content)):
            sha256 = await self._store_file(
                content, lambda sha, n: self._store.store_uploaded(
                    media_id, user_id, self._clock.time_msec(), sha, _content_type(content_type), upload_name, n,
                    self.config.authenticated_media))
        await self._pregenerate_thumbnails(media_id, sha256, _content_type(content_type))
        return self._mxc(media_id)

    async def create_pending(self, user_id: str) -> tuple[str, int]:
        """An mxc:// URI whose content comes later (POST /media/v1/create); (uri, unused_expires_at)."""
        now = self._clock.time_msec()
        if await self._store.count_pending(user_id, now) >= self.config.max_pending_uploads:
            raise LimitExceeded(retry_after_ms=60_000)
        media_id = _new_media_id()
        expires = now + self.config.unused_expiration_ms
        await self._store.create_pending(media_id, user_id, now, expires, self.config.authenticated_media)
        return self._mxc(media_id), expires

    async def upload_pending(self, user_id: str, server_name: str, media_id: str, content: BinaryIO,
                             content_type: str | None, upload_name: str | None) -> None:
        """The content of an mxc:// URI made by create_pending, once, by the user who made it."""
        check_server_name(server_name)
        check_media_id(media_id)
        media = await self._store.get(media_id) if server_name == self._server_name else None
        if media is None or (not media.uploaded and media.unused_expires_ts <= self._clock.time_msec()):
            raise not_found("No pending upload with this media ID")
        if media.user_id != user_id:
            raise forbidden("This media ID was created by another user")
        if media.uploaded:
            raise MatrixError(409, CANNOT_OVERWRITE_MEDIA, "Media already uploaded")
        filled: list[bool] = []

        async def record(sha: str, n: int) -> None:
            filled.append(await self._store.fill_pending(media_id, self._clock.time_msec(), sha,
                                                         _content_type(content_type), upload_name, n))

        async with self._room_for(user_id, _content_size(content)):
            sha256 = await self._store_file(content, record)
        if not filled[0]:  # another upload won the race: keep its content, drop ours if unused
            await self._remove_if_unreferenced(sha256)
            raise MatrixError(409, CANNOT_OVERWRITE_MEDIA, "Media already uploaded")
        for waiter in self._upload_waiters.pop(media_id, []):
            waiter.callback(None)
        await self._pregenerate_thumbnails(media_id, sha256, _content_type(content_type))

    @asynccontextmanager
    async def _room_for(self, user_id: str, size: int) -> Any:
        """Checks the upload size limit and the user's quota, and holds `size` bytes of the quota
        while the upload is stored (until recorded, or failed)."""
        if size > self.config.max_upload_size:
            raise MatrixError(413, Codes.TOO_LARGE, f"Uploads may be at most {self.config.max_upload_size} bytes")
        quota = self.config.user_quota
        if quota is None:
            yield
            return
        async with self._quota_locks.hold(user_id):
            if await self._store.usage(user_id) + self._reserved.get(user_id, 0) + size > quota:
                raise forbidden("Cannot upload this content: your media storage quota is used up")
            self._reserved[user_id] = self._reserved.get(user_id, 0) + size
        try:
            yield
        finally:
            # Under the lock: a check running now counts these bytes either as reserved or as
            # recorded, never as neither.
            async with self._quota_locks.hold(user_id):
                left = self._reserved.pop(user_id) - size
                if left:
                    self._reserved[user_id] = left

    async def _store_file(self, content: BinaryIO, record: Callable[[str, int], Any]) -> str:
        """Hash and copy the body to a temp file (in a thread), then, under the hash's lock, move
        it into place and `record(sha256, size)` the rows. Nothing stays on disk if this fails."""
        try:
            tmp_path, sha256, size = await self._in_thread(self.files.ingest, content,
                                                           self.config.max_upload_size)
        except TooLargeWhileWriting:
            raise MatrixError(413, Codes.TOO_LARGE, "Upload too large") from None
        async with self._hash_locks.hold(sha256):
            existed = await self._in_thread(self.files.exists, sha256)
            try:
                await self._in_thread(self.files.commit, tmp_path, sha256)
                await record(sha256, size)
            except BaseException:
                await self._in_thread(self.files.discard, tmp_path)
                if not existed and not await self._store.is_hash_referenced(sha256):
                    await self._in_thread(self.files.remove, sha256)
                raise
        return sha256

    # -- downloading ----------------------------------------------------------------------------

    async def get_media(self, server_name: str, media_id: str, timeout_ms: int | None, legacy: bool,
                        allow_remote: bool = True) -> LocalMedia | RemoteMedia:
        """Local media, or other servers' media (fetched over federation and cached)."""
        check_server_name(server_name)
        check_media_id(media_id)
        if server_name == self._server_name:
            return await self.get_local_media(server_name, media_id, timeout_ms, legacy)
        return await self.get_remote_media(server_name, media_id, timeout_ms, legacy, allow_remote)

    async def get_local_media(self, server_name: str, media_id: str, timeout_ms: int | None,
                              legacy: bool) -> LocalMedia:
        """Uploaded media to serve, waiting up to `timeout_ms` for an async upload to arrive.
        `legacy`: asked on an unauthenticated endpoint, which does not serve frozen media."""
        check_server_name(server_name)
        check_media_id(media_id)
        if server_name != self._server_name:
            raise not_found("Not media of this server")
        media = await self._store.get(media_id)
        if media is None or media.quarantined_by is not None or (legacy and media.authenticated):
            raise not_found("Media not found")
        if not media.uploaded:
            media = await self._wait_for_upload(media, timeout_ms)
        now = self._clock.time_msec()
        if now - media.last_access_ts > TOUCH_INTERVAL_MS:
            await self._store.touch(media_id, now)
        return media

    async def _wait_for_upload(self, media: LocalMedia, timeout_ms: int | None) -> LocalMedia:
        now = self._clock.time_msec()
        if media.unused_expires_ts is not None and media.unused_expires_ts <= now:
            raise not_found("Media not found")
        timeout = min(max(DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms, 0), MAX_TIMEOUT_MS)
        if timeout > 0:
            waiter: defer.Deferred = defer.Deferred()
            self._upload_waiters.setdefault(media.media_id, []).append(waiter)
            timer = self._clock.call_later(timeout / 1000, lambda: waiter.called or waiter.callback(None))
            try:
                await waiter
            finally:
                if timer.active():
                    timer.cancel()
                waiters = self._upload_waiters.get(media.media_id, [])
                if waiter in waiters:
                    waiters.remove(waiter)
                    if not waiters:
                        del self._upload_waiters[media.media_id]
            refreshed = await self._store.get(media.media_id)
            if refreshed is None:
                raise not_found("Media not found")
            if refreshed.uploaded:
                return refreshed
        raise MatrixError(504, NOT_YET_UPLOADED, "Content has not yet been uploaded")

    # -- remote media -----------------------------------------------------------------------------

    async def get_remote_media(self, origin: str, media_id: str, timeout_ms: int | None, legacy: bool,
                               allow_remote: bool = True) -> RemoteMedia:
        """Our cached copy of another server's media, fetched first if we have none. `legacy`:
        asked on an unauthenticated endpoint, which fetches nothing new while those are frozen
        (enable_authenticated_media) and never serves media fetched while they were."""
        cached = await self._store.get_remote(origin, media_id)
        if cached is not None:
            if cached.quarantined_by is not None or (legacy and cached.authenticated):
                raise not_found("Media not found")
            now = self._clock.time_msec()
            if now - cached.last_access_ts > TOUCH_INTERVAL_MS:
                await self._store.touch_remote(origin, media_id, now)
            return cached
        if legacy and self.config.authenticated_media:
            raise not_found("Media not found")
        if not allow_remote or self._remote is None:
            raise not_found("Remote media is not available on this server")
        key = (origin, media_id)
        waiter: defer.Deferred = defer.Deferred()
        waiters = self._fetching.get(key)
        if waiters is None:
            self._fetching[key] = [waiter]
            # Not tied to this request: a client going away does not cancel the others' fetch.
            defer.ensureDeferred(self._fetch_for_waiters(origin, media_id, timeout_ms))
        else:
            waiters.append(waiter)
        media = await waiter
        if legacy and media.authenticated:
            raise not_found("Media not found")
        return media

    async def _fetch_for_waiters(self, origin: str, media_id: str, timeout_ms: int | None) -> None:
        try:
            result: Any = await self._fetch_and_store(origin, media_id, timeout_ms)
        except MatrixError:
            result = Failure()
        except Exception:
            logger.exception("Fetching mxc://%s/%s failed", origin, media_id)
            result = Failure(MatrixError(502, Codes.UNKNOWN, "Could not fetch the remote media"))
        for waiter in self._fetching.pop((origin, media_id), []):
            if not waiter.called:  # a cancelled waiter (client gone) has been called already
                waiter.callback(result) if not isinstance(result, Failure) else waiter.errback(result)
        if isinstance(result, Failure):
            result.cleanFailure()

    async def _fetch_and_store(self, origin: str, media_id: str, timeout_ms: int | None) -> RemoteMedia:
        assert self._remote is not None
        fetched = await self._remote.fetch(origin, media_id, timeout_ms)
        if len(fetched.data) > self.config.max_upload_size:
            raise MatrixError(502, Codes.TOO_LARGE, "Remote media is larger than this server takes")
        tmp_path, sha256, size = await self._in_thread(self.files.write_bytes_temp, fetched.data)
        now = self._clock.time_msec()
        media = RemoteMedia(origin, media_id, now, fetched.content_type, fetched.upload_name, size, sha256,
                            self.config.authenticated_media, now)
        async with self._hash_locks.hold(sha256):
            existed = await self._in_thread(self.files.exists, sha256)
            try:
                await self._in_thread(self.files.commit, tmp_path, sha256)
                stored = await self._store.store_remote(media)
            except BaseException:
                await self._in_thread(self.files.discard, tmp_path)
                if not existed and not await self._store.is_hash_referenced(sha256):
                    await self._in_thread(self.files.remove, sha256)
                raise
        if not stored:
            await self._remove_if_unreferenced(sha256)
        current = await self._store.get_remote(origin, media_id)
        if current is None:  # deleted at once by retention: serve what we fetched is not possible
            raise not_found("Media not found")
        return current

    async def purge_remote_cache(self, before_ts: int) -> int:
        """Drop cached remote media last used before `before_ts`; returns how many."""
        deleted = 0
        while unused := await self._store.remote_unused_since(before_ts, RETENTION_BATCH):
            for origin, media_id in unused:
                await self.delete_remote_media(origin, media_id)
            deleted += len(unused)
        return deleted

    async def delete_remote_media(self, origin: str, media_id: str) -> None:
        for sha256 in await self._store.delete_remote(origin, media_id):
            await self._remove_if_unreferenced(sha256)

    def served_file(self, media: LocalMedia | RemoteMedia) -> ServedFile:
        assert media.sha256 is not None
        return ServedFile(self.files.path_for(media.sha256), _content_type(media.content_type), media.size,
                          media.upload_name)

    # -- thumbnails -----------------------------------------------------------------------------

    async def get_thumbnail(self, media: LocalMedia | RemoteMedia, width: int, height: int, method: str,
                            animated: bool) -> ServedFile:
        if width < 1 or height < 1:
            raise MatrixError(400, Codes.INVALID_PARAM, "width and height must be positive")
        width, height = min(width, MAX_THUMBNAIL_SIDE), min(height, MAX_THUMBNAIL_SIDE)
        if not thumbnails.can_thumbnail(media.content_type):
            raise MatrixError(400, Codes.UNKNOWN, "Cannot generate thumbnails for the requested content")
        box = (ThumbnailSize(width, height, method) if self.config.dynamic_thumbnails
               else _choose_size(self.config.thumbnail_sizes, width, height, method))
        origin = media.origin if isinstance(media, RemoteMedia) else None
        assert media.sha256 is not None and media.content_type is not None
        for thumb in await self._store.get_thumbnails(media.media_id, origin):
            if (thumb.width, thumb.height, thumb.method, thumb.animated) == (box.width, box.height, box.method,
                                                                              animated):
                return ServedFile(self.files.path_for(thumb.sha256), thumb.content_type, thumb.size, None)
        made = await self._make_thumbnail(media.media_id, media.sha256, media.content_type, box, animated, origin)
        if made is None:  # the original fits the box and may be served as it is
            return self.served_file(media)
        return ServedFile(self.files.path_for(made.sha256), made.content_type, made.size, None)

    async def _make_thumbnail(self, media_id: str, sha256: str, content_type: str, box: ThumbnailSize,
                              animated: bool, origin: str | None = None) -> Thumbnail | None:
        try:
            made = await self.thumbnailer.run(thumbnails.make_thumbnail, self.files.path_for(sha256), content_type,
                                              box.width, box.height, box.method, animated,
                                              self.config.max_image_pixels)
        except thumbnails.ImageTooLarge:
            raise MatrixError(413, Codes.TOO_LARGE, "Content is too large to thumbnail") from None
        except thumbnails.NotThumbnailable:
            raise MatrixError(400, Codes.UNKNOWN, "Cannot generate thumbnails for the requested content") from None
        if made is None:
            return None
        tmp_path, thumb_sha, size = await self._in_thread(self.files.write_bytes_temp, made.data)
        thumb = Thumbnail(box.width, box.height, box.method, animated, made.content_type, thumb_sha, size)
        async with self._hash_locks.hold(thumb_sha):
            await self._in_thread(self.files.commit, tmp_path, thumb_sha)
            if not await self._store.store_thumbnail(media_id, thumb, origin):
                # Media deleted meanwhile, or someone made it first: keep the file only if used.
                if not await self._store.is_hash_referenced(thumb_sha):
                    await self._in_thread(self.files.remove, thumb_sha)
        return thumb

    async def _pregenerate_thumbnails(self, media_id: str, sha256: str, content_type: str) -> None:
        """The configured sizes, made at upload so the common requests are answered from disk.
        An image we cannot or will not decode simply gets none (thumbnail requests then explain why)."""
        if not thumbnails.can_thumbnail(content_type):
            return
        for size in self.config.thumbnail_sizes:
            try:
                await self._make_thumbnail(media_id, sha256, content_type, size, animated=False)
            except MatrixError:
                return
            except Exception:
                logger.exception("Could not make a %s thumbnail of %s", size, media_id)
                return

    # -- deleting -------------------------------------------------------------------------------

    async def delete_local_media(self, media_ids: list[str]) -> int:
        """Delete media (rows, thumbnails) and the files nothing references any more."""
        existing = [m for m in media_ids if await self._store.get(m) is not None]
        for sha256 in await self._store.delete(existing):
            await self._remove_if_unreferenced(sha256)
        for media_id in existing:
            for waiter in self._upload_waiters.pop(media_id, []):
                waiter.callback(None)
        return len(existing)

    async def delete_media_of_user(self, user_id: str) -> list[str]:
        media_ids = await self._store.media_ids_of_user(user_id)
        await self.delete_local_media(media_ids)
        return media_ids

    async def _remove_if_unreferenced(self, sha256: str) -> None:
        async with self._hash_locks.hold(sha256):
            if not await self._store.is_hash_referenced(sha256):
                await self._in_thread(self.files.remove, sha256)

    async def apply_retention(self) -> int:
        """Delete expired pending uploads, media unused for local_media_lifetime, and cached remote
        media unused for remote_media_lifetime; returns how many."""
        now = self._clock.time_msec()
        deleted = 0
        while expired := await self._store.expired_pending(now, RETENTION_BATCH):
            deleted += await self.delete_local_media(expired)
        lifetime = self.config.local_media_lifetime_ms
        if lifetime is not None:
            while unused := await self._store.media_ids_unused_since(now - lifetime, RETENTION_BATCH):
                deleted += await self.delete_local_media(unused)
        remote_lifetime = self.config.remote_media_lifetime_ms
        if remote_lifetime is not None:
            deleted += await self.purge_remote_cache(now - remote_lifetime)
        await self._store.delete_expired_url_previews(now)
        return deleted


def _choose_size(sizes: tuple[ThumbnailSize, ...], width: int, height: int, method: str) -> ThumbnailSize:
    """The configured box to serve: the smallest at least as big as asked (same method preferred),
    else the biggest there is."""
    def big_enough(s: ThumbnailSize) -> bool:
        return s.width >= width and s.height >= height

    for candidates in ([s for s in sizes if s.method == method], list(sizes)):
        fitting = [s for s in candidates if big_enough(s)]
        if fitting:
            return min(fitting, key=lambda s: s.width * s.height)
    if not sizes:
        return ThumbnailSize(width, height, method)
    same = [s for s in sizes if s.method == method] or list(sizes)
    return max(same, key=lambda s: s.width * s.height)


def _new_media_id() -> str:
    return "".join(secrets.choice(string.ascii_letters) for _ in range(MEDIA_ID_LENGTH))


def _content_type(content_type: str | None) -> str:
    return content_type or "application/octet-stream"


def _content_size(content: BinaryIO) -> int:
    content.seek(0, 2)
    return content.tell()
