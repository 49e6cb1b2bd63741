"""`GET /health`: 200 `OK` while the server is up, for load balancers and container health checks
(Synapse serves the same path). Served on every HTTP listener, before the API and the web client."""

from __future__ import annotations

from typing import Any

from twisted.web import resource

from homeserver.rest.http import HomeserverRequest

HEALTH_PATH = b"/health"


class HealthCheckRoot(resource.Resource):
    """Answers `/health` itself and hands every other request to the listener's root resource."""

    isLeaf = True

    def __init__(self, inner: resource.Resource):
        super().__init__()
        self._inner = inner

    def render(self, request: HomeserverRequest) -> Any:
        if request.path != HEALTH_PATH:
            return self._inner.render(request)
        if request.method not in (b"GET", b"HEAD"):
            request.setResponseCode(405)
            request.responseHeaders.setRawHeaders(b"Allow", [b"GET, HEAD"])
            return b""
        request.responseHeaders.setRawHeaders(b"Content-Type", [b"text/plain; charset=utf-8"])
        request.responseHeaders.setRawHeaders(b"Cache-Control", [b"no-cache, no-store, must-revalidate"])
        return b"OK"
