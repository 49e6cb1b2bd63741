"""Serves the bundled web client (a single-page app built by Vite) at `/`, beside the Matrix API.

Vite names every file under `assets/` after a hash of its content, so those may be cached for good;
`index.html` names the current hashes and must never be cached, or a browser keeps an old client.
Paths that are not files are client-side routes: they get `index.html` and the app routes itself.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import unquote

from twisted.web import resource, static

from homeserver.rest.http import HomeserverRequest

logger = logging.getLogger(__name__)

# Paths that belong to the server's APIs, never to the web client.
API_PREFIXES = (b"/_matrix/", b"/_synapse/", b"/.well-known/")

HASHED_ASSETS_DIR = "assets"
CACHE_FOREVER = b"public, max-age=31536000, immutable"
CACHE_NEVER = b"no-cache, no-store, must-revalidate"

# Set explicitly: the host's mime.types may lack some (WebAssembly must be application/wasm for
# streaming compilation), and a wrong type plus `nosniff` breaks the app.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}

SECURITY_HEADERS = {
    b"X-Content-Type-Options": b"nosniff",
    b"X-Frame-Options": b"DENY",
    b"Referrer-Policy": b"no-referrer",
}

NOT_BUILT_PAGE = (
    b"<!doctype html><title>Web client not built</title>"
    b"<p>The web client has not been built. Run <code>npm ci &amp;&amp; npm run build</code> in"
    b" <code>clients/web</code> (scripts/run-server.sh does this), or set <code>web_client.path</code>.</p>"
)


class WebClientResource(resource.Resource):
    """The files of the built client; `index.html` for every other GET."""

    isLeaf = True

    def __init__(self, root_dir: str):
        super().__init__()
        self._root = os.path.realpath(root_dir)

    def render_HEAD(self, request: HomeserverRequest) -> Any:
        return self.render_GET(request)

    def render_GET(self, request: HomeserverRequest) -> Any:
        for name, value in SECURITY_HEADERS.items():
            request.responseHeaders.setRawHeaders(name, [value])
        relative = self._relative_path(request.path)
        if relative is not None:
            file_path = os.path.join(self._root, relative)
            if os.path.isfile(file_path):
                hashed = relative.split("/", 1)[0] == HASHED_ASSETS_DIR
                return self._serve(request, file_path, CACHE_FOREVER if hashed else CACHE_NEVER)
            if relative.split("/", 1)[0] == HASHED_ASSETS_DIR:
                # A missing asset is a real 404: answering index.html would hide a stale page's error.
                return self._not_found(request)
        index = os.path.join(self._root, "index.html")
        if not os.path.isfile(index):
            request.setResponseCode(404)
            request.responseHeaders.setRawHeaders(b"Content-Type", [b"text/html; charset=utf-8"])
            request.responseHeaders.setRawHeaders(b"Cache-Control", [CACHE_NEVER])
            return NOT_BUILT_PAGE
        return self._serve(request, index, CACHE_NEVER)

    def _relative_path(self, raw_path: bytes) -> str | None:
        """The request path relative to the client's directory, or None if it points outside it."""
        try:
            path = unquote(raw_path.decode("utf-8"), errors="strict")
        except UnicodeDecodeError:
            return None
        if "\x00" in path:
            return None
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            return None
        relative = "/".join(parts)
        resolved = os.path.realpath(os.path.join(self._root, relative))
        if resolved != self._root and not resolved.startswith(self._root + os.sep):
            return None  # a symlink leading out of the directory
        return relative

    def _serve(self, request: HomeserverRequest, file_path: str, cache_control: bytes) -> Any:
        request.responseHeaders.setRawHeaders(b"Cache-Control", [cache_control])
        content_type = CONTENT_TYPES.get(os.path.splitext(file_path)[1].lower(), "application/octet-stream")
        # The build writes a gzipped twin of each big asset (the crypto WASM is 8 MB, 2 MB gzipped):
        # send it to browsers that accept gzip instead of compressing on every request.
        request.responseHeaders.setRawHeaders(b"Vary", [b"Accept-Encoding"])
        if _accepts_gzip(request) and os.path.isfile(file_path + ".gz"):
            request.responseHeaders.setRawHeaders(b"Content-Encoding", [b"gzip"])
            file_path += ".gz"
        # static.File streams the file with a producer (no blocking read of a multi-MB WASM file)
        # and handles Range and If-Modified-Since.
        file = static.File(file_path, defaultType=content_type)
        file.contentTypes = {}
        file.contentEncodings = {}
        return file.render(request)

    def _not_found(self, request: HomeserverRequest) -> bytes:
        request.setResponseCode(404)
        request.responseHeaders.setRawHeaders(b"Content-Type", [b"text/plain; charset=utf-8"])
        request.responseHeaders.setRawHeaders(b"Cache-Control", [CACHE_NEVER])
        return b"Not found"


def _accepts_gzip(request: HomeserverRequest) -> bool:
    for part in (request.getHeader(b"accept-encoding") or b"").split(b","):
        coding, _, params = part.strip().partition(b";")
        if coding.strip().lower() == b"gzip":
            return params.replace(b" ", b"").lower() not in (b"q=0", b"q=0.0", b"q=0.00", b"q=0.000")
    return False


class RootResource(resource.Resource):
    """Sends API paths (and every non-GET) to the Matrix API and everything else to the web client."""

    isLeaf = True

    def __init__(self, api: resource.Resource, web_client: resource.Resource):
        super().__init__()
        self._api = api
        self._web_client = web_client

    def render(self, request: HomeserverRequest) -> Any:
        if request.method in (b"GET", b"HEAD") and not request.path.startswith(API_PREFIXES):
            return self._web_client.render(request)
        return self._api.render(request)
