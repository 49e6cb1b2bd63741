"""Fetching media of another server for our users (spec: client-server-api content_repo.md,
server-server-api.md "Content Repository").

The peer is asked `GET /_matrix/federation/v1/media/download/{mediaId}` (signed); its
multipart/mixed answer holds the bytes, or a `Location` to fetch them from, which is fetched with
the guarded outbound client (the federation IP range policy applies to every address it connects
to). A peer that does not know that endpoint (404 M_UNRECOGNIZED, 400) is asked its legacy
`/_matrix/media/v3/download/{origin}/{mediaId}?allow_remote=false` instead, whose answer is the
plain bytes. Every answer is bounded by `max_upload_size` as it is read.

Whatever goes wrong becomes the Matrix error the client sees: 404 M_NOT_FOUND (the peer has no
such media), 502 M_TOO_LARGE (larger than we take), 504 M_NOT_YET_UPLOADED (the peer's own
answer), 502 M_UNKNOWN (unreachable, slow, malformed, refused addresses)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from homeserver.api.errors import Codes, MatrixError
from homeserver.federation.api import FederationApi, unknown_endpoint
from homeserver.federation.client import (
    AnswerTooLarge,
    DestinationRefused,
    FederationClientError,
    FederationError,
)
from homeserver.federation.multipart import MalformedMultipart, filename_from_disposition, parse_media_answer
from homeserver.outbound import InvalidUrl, OutboundClient, OutboundError, ResponseTooLarge, check_url

logger = logging.getLogger(__name__)

# Room for the multipart framing (boundaries, part headers, the metadata) around the bytes.
MULTIPART_OVERHEAD = 64 * 1024
_CONTENT_TYPE_RE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?")
NOT_YET_UPLOADED = "M_NOT_YET_UPLOADED"
# How long fetching from a Location may take (the federation request itself has the federation
# client's timeout).
REMOTE_MEDIA_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class FetchedMedia:
    content_type: str
    upload_name: str | None
    data: bytes


def bad_gateway(why: str) -> MatrixError:
    return MatrixError(502, Codes.UNKNOWN, f"Could not fetch the remote media: {why}")


def too_large(max_size: int) -> MatrixError:
    return MatrixError(502, Codes.TOO_LARGE, f"Remote media is larger than this server takes ({max_size} bytes)")


def _clean_content_type(value: str | None) -> str:
    if value is None or not value.isascii() or not _CONTENT_TYPE_RE.fullmatch(value.strip()):
        return "application/octet-stream"
    return value.strip()


class RemoteMediaFetcher:
    def __init__(self, api: FederationApi, location_client: OutboundClient, max_size: int):
        self._api = api
        self._location_client = location_client
        self._max_size = max_size

    async def fetch(self, origin: str, media_id: str, timeout_ms: int | None) -> FetchedMedia:
        try:
            response = await self._api.download_media(origin, media_id, self._max_size + MULTIPART_OVERHEAD,
                                                      timeout_ms)
        except FederationError as e:
            if unknown_endpoint(e):
                return await self._fetch_legacy(origin, media_id, timeout_ms)
            raise self._error(origin, e) from None
        except AnswerTooLarge:
            raise too_large(self._max_size) from None
        except DestinationRefused as e:
            raise e.as_matrix_error() from None
        except FederationClientError as e:
            raise bad_gateway(str(e)) from None
        try:
            part = parse_media_answer(response.header("Content-Type"), response.body)
        except MalformedMultipart as e:
            logger.info("Malformed media answer from %s for %s: %s", origin, media_id, e)
            raise bad_gateway(f"malformed answer from {origin}: {e}") from None
        if part.location is not None:
            return await self._follow(origin, part.location)
        if len(part.data) > self._max_size:
            raise too_large(self._max_size)
        return FetchedMedia(_clean_content_type(part.content_type),
                            filename_from_disposition(part.content_disposition), part.data)

    async def _fetch_legacy(self, origin: str, media_id: str, timeout_ms: int | None) -> FetchedMedia:
        try:
            response = await self._api.download_media_legacy(origin, media_id, self._max_size, timeout_ms)
        except FederationError as e:
            raise self._error(origin, e) from None
        except AnswerTooLarge:
            raise too_large(self._max_size) from None
        except DestinationRefused as e:
            raise e.as_matrix_error() from None
        except FederationClientError as e:
            raise bad_gateway(str(e)) from None
        return FetchedMedia(_clean_content_type(response.header("Content-Type")),
                            filename_from_disposition(response.header("Content-Disposition")), response.body)

    async def _follow(self, origin: str, location: str) -> FetchedMedia:
        """The bytes at the Location a peer named (not cached as a URL: it may expire)."""
        try:
            check_url(location)
            response = await self._location_client.get(location, max_size=self._max_size)
        except InvalidUrl:
            raise bad_gateway(f"{origin} redirected to an invalid URL") from None
        except ResponseTooLarge:
            raise too_large(self._max_size) from None
        except OutboundError as e:  # refused address, unreachable, slow
            logger.info("Could not follow %s's media redirect: %s", origin, e)
            raise bad_gateway(f"the redirect of {origin} could not be followed: {e}") from None
        if response.code == 404:
            raise MatrixError(404, Codes.NOT_FOUND, "Remote media not found")
        if response.code != 200:
            raise bad_gateway(f"the redirect of {origin} answered HTTP {response.code}")
        return FetchedMedia(_clean_content_type(response.header("Content-Type")),
                            filename_from_disposition(response.header("Content-Disposition")), response.body)

    def _error(self, origin: str, e: FederationError) -> MatrixError:
        if e.code == 404:
            return MatrixError(404, Codes.NOT_FOUND, "Remote media not found")
        if e.code == 504 and e.errcode == NOT_YET_UPLOADED:
            return MatrixError(504, NOT_YET_UPLOADED, "Content has not yet been uploaded")
        if e.errcode == Codes.TOO_LARGE:
            return too_large(self._max_size)
        return bad_gateway(f"{origin} answered HTTP {e.code}" + (f" {e.errcode}" if e.errcode else ""))
