"""The multipart/mixed answers of the federation media endpoints (spec: server-server-api.md,
"Content Repository"; RFC 2046 section 5.1): exactly two parts, the first `application/json`
metadata (`{}` today), the second either the media's bytes (with Content-Type and
Content-Disposition) or a `Location` header naming where to fetch them.

`multipart_head`/`multipart_tail` frame a file we stream (the REST layer writes the bytes between
them); `parse_media_answer` reads an answer from another server, refusing anything malformed."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import unquote

# RFC 2046: 1-70 characters from this set, not ending with a space.
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
MAX_PART_HEADERS = 16 * 1024


class MalformedMultipart(Exception):
    """The answer is not the two-part multipart/mixed the spec describes."""


@dataclass(frozen=True)
class MediaPart:
    metadata: dict
    content_type: str | None  # of the media part (None: not given)
    content_disposition: str | None
    location: str | None  # set: the bytes are to be fetched from there, `data` is empty
    data: bytes


def new_boundary() -> str:
    return secrets.token_hex(16)


def multipart_head(boundary: str, content_type: bytes, content_disposition: bytes) -> bytes:
    return (f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n--{boundary}\r\n".encode("ascii")
            + b"Content-Type: " + content_type + b"\r\nContent-Disposition: " + content_disposition + b"\r\n\r\n")


def multipart_tail(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode("ascii")


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """`type/subtype; a=b; c="d"` -> ("type/subtype", {"a": "b", "c": "d"}) (names lowercased)."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for m in re.finditer(r'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*(?:;|$)', rest):
        name, raw = m.group(1).lower(), m.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[name] = raw
    return main.strip().lower(), params


def boundary_of(content_type: str | None) -> str:
    if content_type is None:
        raise MalformedMultipart("no Content-Type")
    kind, params = header_params(content_type)
    if kind != "multipart/mixed":
        raise MalformedMultipart(f"Content-Type is {kind!r}, not multipart/mixed")
    boundary = params.get("boundary")
    if boundary is None or not _BOUNDARY_RE.fullmatch(boundary):
        raise MalformedMultipart("missing or invalid boundary")
    return boundary


def _split_part(part: bytes) -> tuple[dict[str, str], bytes]:
    """A part's headers (names lowercased) and body. Lines may end in CRLF or (leniently) LF."""
    m = re.search(rb"\r?\n\r?\n", part)
    if part.startswith(b"\r\n") or part.startswith(b"\n"):
        return {}, part[2 if part.startswith(b"\r\n") else 1:]  # no headers at all
    if m is None or m.start() > MAX_PART_HEADERS:
        raise MalformedMultipart("part without a header section")
    headers: dict[str, str] = {}
    for line in re.split(rb"\r?\n", part[:m.start()]):
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise MalformedMultipart("malformed part header")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers, part[m.end():]


def parse_media_answer(content_type: str | None, body: bytes) -> MediaPart:
    boundary = boundary_of(content_type).encode("ascii")
    delimiter = b"--" + boundary
    # The body starts with the first delimiter (after an optional preamble); each later one is
    # preceded by CRLF, which belongs to the delimiter, not to the part before it.
    if body.startswith(delimiter):
        start = len(delimiter)
    else:
        first = body.find(b"\r\n" + delimiter)
        if first < 0:
            first = body.find(b"\n" + delimiter)
            if first < 0:
                raise MalformedMultipart("no boundary delimiter in the body")
            start = first + 1 + len(delimiter)
        else:
            start = first + 2 + len(delimiter)
    parts: list[bytes] = []
    closed = False
    pos = start
    while True:
        # After a delimiter: "--" closes, otherwise the rest of the line (transport padding) ends.
        if body[pos:pos + 2] == b"--":
            closed = True
            break
        eol = body.find(b"\n", pos)
        if eol < 0 or body[pos:eol].strip(b" \t\r"):
            raise MalformedMultipart("malformed boundary line")
        pos = eol + 1
        nxt = body.find(b"\r\n" + delimiter, pos)
        step = 2
        if nxt < 0:
            nxt = body.find(b"\n" + delimiter, pos)
            step = 1
            if nxt < 0:
                break
        parts.append(body[pos:nxt])
        pos = nxt + step + len(delimiter)
        if len(parts) > 2:
            raise MalformedMultipart("more than two parts")
    if not closed or len(parts) != 2:
        raise MalformedMultipart(f"expected two parts and a closing delimiter, got {len(parts)} part(s)")
    meta_headers, meta_body = _split_part(parts[0])
    if header_params(meta_headers.get("content-type", ""))[0] != "application/json":
        raise MalformedMultipart("the first part is not application/json")
    try:
        metadata = json.loads(meta_body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedMultipart("the first part is not JSON") from None
    if not isinstance(metadata, dict):
        raise MalformedMultipart("the metadata is not a JSON object")
    headers, data = _split_part(parts[1])
    location = headers.get("location")
    return MediaPart(metadata, headers.get("content-type"), headers.get("content-disposition"), location,
                     b"" if location else data)


def filename_from_disposition(value: str | None) -> str | None:
    """The file name of a Content-Disposition header (`filename*=utf-8''...` preferred), if any."""
    if not value:
        return None
    _, params = header_params(value)
    extended = params.get("filename*")
    if extended:
        charset, _, rest = extended.partition("'")
        _, _, encoded = rest.partition("'")
        if charset.lower() in ("utf-8", "utf8") and encoded:
            try:
                return unquote(encoded, encoding="utf-8", errors="strict") or None
            except UnicodeDecodeError:
                pass
    name = params.get("filename")
    return name or None
