"""Files on disk, named by the SHA-256 of their bytes: identical content is stored once.

Every method here blocks (disk I/O); the repository calls them in a thread. A new file is written
under `tmp/` and renamed into place only when complete, so a failed upload leaves nothing behind
and a reader never sees half a file."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from typing import BinaryIO

CHUNK_SIZE = 256 * 1024


class TooLargeWhileWriting(Exception):
    """The content turned out bigger than allowed while it was copied."""


class MediaFileStore:
    def __init__(self, root: str):
        self.root = root
        self._content_dir = os.path.join(root, "content")
        self.tmp_dir = os.path.join(root, "tmp")

    def setup(self) -> None:
        os.makedirs(self._content_dir, exist_ok=True)
        os.makedirs(self.tmp_dir, exist_ok=True)
        # Leftovers of uploads interrupted by a crash: never referenced by the database.
        for name in os.listdir(self.tmp_dir):
            try:
                os.unlink(os.path.join(self.tmp_dir, name))
            except OSError:
                pass

    def path_for(self, sha256: str) -> str:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return os.path.join(self._content_dir, sha256[:2], sha256[2:4], sha256)

    def ingest(self, source: BinaryIO, max_size: int | None = None) -> tuple[str, str, int]:
        """A temporary file holding `source`'s bytes: (temp path, sha256, size); the caller
        commits or discards it. A body the HTTP layer spooled into our tmp dir is hashed and
        hard-linked (no second copy of a big upload); anything else is copied in chunks."""
        name = getattr(source, "name", None)
        if isinstance(name, str) and os.path.dirname(os.path.abspath(name)) == os.path.abspath(self.tmp_dir):
            source.flush()
            digest, size = hashlib.sha256(), 0
            source.seek(0)
            while chunk := source.read(CHUNK_SIZE):
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise TooLargeWhileWriting()
                digest.update(chunk)
            tmp_path = os.path.join(self.tmp_dir, f"upload-{secrets.token_hex(16)}")
            try:
                os.link(name, tmp_path)
                return tmp_path, digest.hexdigest(), size
            except OSError:  # a filesystem without hard links: copy instead
                pass
        return self.write_temp(source, max_size)

    def write_temp(self, source: BinaryIO, max_size: int | None = None) -> tuple[str, str, int]:
        """Copy `source` (from its start) to a temporary file in chunks, hashing as it goes.
        Returns (temp path, sha256, size); the caller commits or discards the temp file."""
        source.seek(0)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_path = tempfile.mkstemp(dir=self.tmp_dir, prefix="upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK_SIZE):
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise TooLargeWhileWriting()
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            self.discard(tmp_path)
            raise
        return tmp_path, digest.hexdigest(), size

    def write_bytes_temp(self, data: bytes) -> tuple[str, str, int]:
        fd, tmp_path = tempfile.mkstemp(dir=self.tmp_dir, prefix="thumb-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        except BaseException:
            self.discard(tmp_path)
            raise
        return tmp_path, hashlib.sha256(data).hexdigest(), len(data)

    def commit(self, tmp_path: str, sha256: str) -> None:
        """Move a temp file to its content address (or drop it: the same bytes are there already)."""
        final = self.path_for(sha256)
        if os.path.exists(final):
            self.discard(tmp_path)
            return
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(tmp_path, final)

    def discard(self, tmp_path: str) -> None:
        try:
            os.unlink(tmp_path)
        except FileNotFoundError:
            pass

    def remove(self, sha256: str) -> None:
        try:
            os.unlink(self.path_for(sha256))
        except FileNotFoundError:
            pass

    def exists(self, sha256: str) -> bool:
        return os.path.exists(self.path_for(sha256))
