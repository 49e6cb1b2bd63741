"""Serving media files: the spec's security headers, Content-Disposition, HTTP ranges, and the
bytes streamed from disk by a producer (never read into memory)."""

from __future__ import annotations

import logging
import os
import re
from typing import BinaryIO
from urllib.parse import quote

from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from homeserver.api.errors import Codes
from homeserver.federation.multipart import multipart_head, multipart_tail, new_boundary
from homeserver.handlers.media.repository import ServedFile
from homeserver.handlers.media.thumbnails import base_type
from homeserver.rest.http import CORS_HEADERS, HomeserverRequest, RawBody, respond_json

logger = logging.getLogger(__name__)

# Bytes read from disk per write: big enough that per-chunk overhead does not dominate, small
# enough that the reactor is never blocked for long by one read.
SEND_CHUNK = 256 * 1024

CONTENT_SECURITY_POLICY = (b"sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
                           b"style-src 'unsafe-inline'; object-src 'self';")
# The spec's list of types that are safe to serve with `Content-Disposition: inline`.
INLINE_CONTENT_TYPES = frozenset({
    "text/css", "text/plain", "text/csv", "application/json", "application/ld+json", "image/jpeg", "image/gif",
    "image/png", "image/apng", "image/webp", "image/avif", "video/mp4", "video/webm", "video/ogg",
    "video/quicktime", "audio/mp4", "audio/webm", "audio/aac", "audio/mpeg", "audio/ogg", "audio/wave",
    "audio/wav", "audio/x-wav", "audio/x-pn-wav", "audio/flac", "audio/x-flac",
})
# At most 18 digits (any file size fits): a longer number is a malformed range, ignored.
_RANGE_RE = re.compile(r"bytes=([0-9]{0,18})-([0-9]{0,18})")
# Characters that may stand in a quoted filename as they are (RFC 6266 / RFC 2616 quoted-string,
# minus the quote and backslash that would need escaping).
_PLAIN_FILENAME_RE = re.compile(r"[\x20-\x7e]+")


def content_disposition(content_type: str, filename: str | None, force_inline: bool = False) -> bytes:
    disposition = "inline" if force_inline or base_type(content_type) in INLINE_CONTENT_TYPES else "attachment"
    if not filename:
        return disposition.encode("ascii")
    if _PLAIN_FILENAME_RE.fullmatch(filename) and '"' not in filename and "\\" not in filename:
        return f'{disposition}; filename="{filename}"'.encode("ascii")
    return f"{disposition}; filename*=utf-8''{quote(filename, safe='')}".encode("ascii")


def _served_content_type(content_type: str) -> bytes:
    # The spec allows adding a charset to text/*; browsers would otherwise guess one.
    if content_type.lower().startswith("text/") and "charset" not in content_type.lower():
        content_type += "; charset=utf-8"
    try:
        return content_type.encode("ascii")
    except UnicodeEncodeError:
        return b"application/octet-stream"


def parse_range(header: bytes | None, size: int) -> tuple[int, int] | None | str:
    """(first, last) byte of a single satisfiable range; None to send the whole file (no header, a
    form we do not serve such as several ranges, or a malformed one, which RFC 9110 says to
    ignore); "unsatisfiable" for a range outside the file."""
    if header is None:
        return None
    m = _RANGE_RE.fullmatch(header.decode("latin-1").strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first_s, last_s = m.groups()
    if not first_s:  # suffix: the last N bytes
        length = int(last_s)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1)


def _open_served(request: HomeserverRequest, served: ServedFile) -> BinaryIO | None:
    """The stored file opened for reading (the producer closes it), or None once a 404 went out."""
    try:
        return open(served.path, "rb")  # noqa: SIM115 - the producer closes it
    except FileNotFoundError:
        logger.error("Media file missing from the store: %s", served.path)
        respond_json(request, 404, {"errcode": Codes.NOT_FOUND, "error": "Media not found"})
        return None


class FileBody(RawBody):
    def __init__(self, served: ServedFile, filename: str | None, thumbnail: bool = False):
        self.served = served
        self.filename = filename
        self.thumbnail = thumbnail

    def send(self, request: HomeserverRequest, code: int) -> None:
        f = _open_served(request, self.served)
        if f is None:
            return
        size = os.fstat(f.fileno()).st_size
        headers = request.responseHeaders
        for name, value in CORS_HEADERS.items():
            headers.setRawHeaders(name, [value])
        headers.setRawHeaders(b"Content-Security-Policy", [CONTENT_SECURITY_POLICY])
        headers.setRawHeaders(b"X-Content-Type-Options", [b"nosniff"])
        headers.setRawHeaders(b"Cross-Origin-Resource-Policy", [b"cross-origin"])
        headers.setRawHeaders(b"Accept-Ranges", [b"bytes"])
        # Media never changes under its ID; caches may keep it (privately: access may be authenticated).
        headers.setRawHeaders(b"Cache-Control", [b"private, max-age=86400"])
        wanted = parse_range(request.getHeader(b"range"), size)
        if wanted == "unsatisfiable":
            f.close()
            headers.setRawHeaders(b"Content-Range", [f"bytes */{size}".encode("ascii")])
            respond_json(request, 416, {"errcode": Codes.UNKNOWN, "error": "Requested range not satisfiable"})
            return
        headers.setRawHeaders(b"Content-Type", [_served_content_type(self.served.content_type)])
        headers.setRawHeaders(b"Content-Disposition",
                              [content_disposition(self.served.content_type, self.filename, self.thumbnail)])
        if isinstance(wanted, tuple):
            first, last = wanted
            request.setResponseCode(206)
            headers.setRawHeaders(b"Content-Range", [f"bytes {first}-{last}/{size}".encode("ascii")])
            length = last - first + 1
        else:
            request.setResponseCode(code)
            first, length = 0, size
        headers.setRawHeaders(b"Content-Length", [str(length).encode("ascii")])
        if request.method == b"HEAD" or length == 0:
            f.close()
            request.finish()
            return
        FileProducer(request, f, first, length).start()


class MultipartFileBody(FileBody):
    """A federation media answer: multipart/mixed, metadata `{}` then the file (streamed)."""

    def send(self, request: HomeserverRequest, code: int) -> None:
        f = _open_served(request, self.served)
        if f is None:
            return
        size = os.fstat(f.fileno()).st_size
        boundary = new_boundary()
        head = multipart_head(boundary, _served_content_type(self.served.content_type),
                              content_disposition(self.served.content_type, self.filename, self.thumbnail))
        tail = multipart_tail(boundary)
        headers = request.responseHeaders
        headers.setRawHeaders(b"Content-Type", [f"multipart/mixed; boundary={boundary}".encode("ascii")])
        headers.setRawHeaders(b"Content-Length", [str(len(head) + size + len(tail)).encode("ascii")])
        request.setResponseCode(code)
        if request.method == b"HEAD":
            f.close()
            request.finish()
            return
        request.write(head)
        FileProducer(request, f, 0, size, trailer=tail).start()


@implementer(IPushProducer)
class FileProducer:
    """Writes `length` bytes of a file from `offset` to the request as fast as the connection
    takes them: the transport pauses us when its buffer is full and resumes us when it drains,
    so at most a buffer's worth of the file is ever in memory."""

    def __init__(self, request: HomeserverRequest, f: BinaryIO, offset: int, length: int, trailer: bytes = b""):
        self._request = request
        self._trailer = trailer
        self._file = f
        self._offset = offset
        self._remaining = length
        self._paused = False
        self._done = False

    def start(self) -> None:
        self._file.seek(self._offset)
        self._request.registerProducer(self, True)
        if not self._paused:
            self.resumeProducing()

    def resumeProducing(self) -> None:  # noqa: N802 - Twisted's interface names
        self._paused = False
        while not self._paused and not self._done:
            if self._remaining <= 0:
                self._finish()
                return
            data = self._file.read(min(SEND_CHUNK, self._remaining))
            if not data:  # the file shrank under us: end the response where it is
                self._finish()
                return
            self._remaining -= len(data)
            self._request.write(data)
            if self._remaining <= 0:
                self._finish()

    def pauseProducing(self) -> None:  # noqa: N802
        self._paused = True

    def stopProducing(self) -> None:  # noqa: N802 - the client went away
        self._done = True
        self._file.close()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        self._request.unregisterProducer()
        if self._trailer:
            self._request.write(self._trailer)
        self._request.finish()
