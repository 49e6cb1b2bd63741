"""The HTTP framework: routing, JSON in and out, validation, access tokens, CORS, errors, logging.

Servlets are small classes with `PATTERNS` (compiled path regexes) and `on_GET`/`on_POST`/...
coroutines returning `(status, json_body)`. Everything a servlet raises as `MatrixError` becomes
the spec's error JSON; anything else becomes `500 M_UNKNOWN` with the request id in the log."""

from __future__ import annotations

import contextvars
import io
import itertools
import logging
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import jsonschema
from twisted.internet import defer
from twisted.web import server
from twisted.web.resource import Resource

from homeserver import metrics
from homeserver.api.errors import Codes, MatrixError
from homeserver.api.numbers import parse_decimal
from homeserver.util import json_encoding, json_input
from homeserver.util.absent_nulls import drop_absent_nulls
from homeserver.util.cpu_pool import CpuPool
from homeserver.util.json_schema import validator_for

if TYPE_CHECKING:
    from homeserver.handlers.auth import Requester
    from homeserver.server import HomeServer

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("homeserver.access")

# The id of the request being handled, added to every log line (see logging_setup.py).
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_request_counter = itertools.count(1)

CLIENT_PREFIX = "/_matrix/client"
CORS_HEADERS = {
    b"Access-Control-Allow-Origin": b"*",
    b"Access-Control-Allow-Methods": b"GET, HEAD, POST, PUT, DELETE, OPTIONS",
    b"Access-Control-Allow-Headers": b"X-Requested-With, Content-Type, Authorization, Date",
    b"Access-Control-Expose-Headers": b"Content-Disposition, Content-Type, Content-Length",
}


def client_patterns(path_regex: str, releases: Iterable[str] = ("r0", "v3"), v1: bool = False,
                    unstable: bool = False) -> list[re.Pattern[str]]:
    """Regexes for a client-server path under each API version prefix it is served at."""
    versions = list(releases) + (["v1"] if v1 else []) + (["unstable"] if unstable else [])
    return [re.compile(f"^{CLIENT_PREFIX}/(?:{'|'.join(versions)}){path_regex}$")]


# -- the request --------------------------------------------------------------------------------


class HomeserverRequest(server.Request):
    """A request that refuses to buffer a body bigger than its site's limit."""

    site: MatrixSite

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.body_too_large = False
        self._body_length = 0
        self.request_id = ""
        self._client_ip: str | None = None

    def _body_limit(self) -> int:
        # Called while headers are read, before Request.process() sets self.site.
        path = getattr(self.channel, "_path", b"") or b""
        return self.channel.site.body_limit_for(path)

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self._body_limit():
            self.body_too_large = True
            self.content = io.BytesIO()
            return
        super().gotLength(length)
        spool_dir = self.channel.site.spool_dir_for(getattr(self.channel, "_path", b"") or b"")
        if spool_dir is not None and not isinstance(self.content, io.BytesIO):
            # A big upload is spooled next to the media store, so storing it needs no second copy.
            try:
                spooled = tempfile.NamedTemporaryFile(dir=spool_dir, prefix="body-")  # noqa: SIM115
            except OSError:  # no spool dir: keep twisted's temp file (media then copies it)
                return
            self.content.close()
            self.content = spooled

    def handleContentChunk(self, data: bytes) -> None:
        if self.body_too_large:
            return
        self._body_length += len(data)
        if self._body_length > self._body_limit():
            self.body_too_large = True
            self.content.close()  # a spooled file is deleted now, not whenever it is collected
            self.content = io.BytesIO()
            return
        super().handleContentChunk(data)

    def client_ip(self) -> str:
        """The client's address (from X-Forwarded-For behind a trusted proxy). Read once, while
        the connection is there: it is gone after finish()."""
        if self._client_ip is None:
            forwarded = self.getHeader(b"x-forwarded-for") if self.channel.site.x_forwarded else None
            if forwarded:
                self._client_ip = forwarded.split(",")[0].strip()
            else:
                self._client_ip = getattr(self.getClientAddress(), "host", "") or ""
        return self._client_ip


class MatrixSite(server.Site):
    requestFactory = HomeserverRequest

    def __init__(self, resource: Resource, body_limit: int, upload_limit: int, x_forwarded: bool = False):
        super().__init__(resource)
        self._body_limit = body_limit
        self._upload_limit = upload_limit
        self.x_forwarded = x_forwarded
        self.noisy = False
        # Where big media upload bodies are spooled (set by HomeServer.build_site); None: the system's temp dir.
        self.upload_spool_dir: str | None = None

    def body_limit_for(self, path: bytes) -> int:
        if path.startswith(b"/_matrix/media/"):
            return self._upload_limit
        return self._body_limit

    def spool_dir_for(self, path: bytes) -> str | None:
        return self.upload_spool_dir if path.startswith(b"/_matrix/media/") else None

    def log(self, request: server.Request) -> None:
        pass  # requests are logged by MatrixResource, with their request id


@dataclass(frozen=True)
class HtmlPage:
    """A servlet returns this instead of a JSON body to answer with an HTML page."""

    html: str


class RawBody:
    """A servlet returns a subclass of this for a body that is not JSON (media files): `send`
    writes the status, headers and body itself, and finishes the request."""

    def send(self, request: HomeserverRequest, code: int) -> None:
        raise NotImplementedError


# -- parsing ------------------------------------------------------------------------------------


def parse_json(request: HomeserverRequest, allow_empty: bool = False, canonical_numbers: bool = True) -> Any:
    request.content.seek(0)
    raw = request.content.read()
    if not raw and allow_empty:
        return {}
    return parse_json_text(raw, "Content", canonical_numbers)


def parse_json_text(raw: str | bytes, what: str, canonical_numbers: bool = True) -> Any:
    """JSON from a client (`what` names it in the error): 400 M_NOT_JSON when it is not JSON,
    M_BAD_JSON when it nests deeper than json_input.MAX_DEPTH or has a number outside the
    canonical JSON range."""
    try:
        return json_input.loads(raw, canonical_numbers)
    except json_input.BadJson as e:
        raise MatrixError(400, Codes.BAD_JSON, f"{what}: {e}") from None
    except ValueError:
        raise MatrixError(400, Codes.NOT_JSON, f"{what} not JSON.") from None


def parse_json_object(request: HomeserverRequest, schema: Validator | None = None,
                      allow_empty: bool = False) -> dict[str, Any]:
    body = parse_json(request, allow_empty)
    if not isinstance(body, dict):
        raise MatrixError(400, Codes.BAD_JSON, "Content must be a JSON object.")
    if schema is not None:
        schema.validate(body)
    return body


class Validator:
    """A JSON Schema for a request body; its errors name the bad field with the spec's errcodes."""

    def __init__(self, schema: dict[str, Any]):
        self._schema = schema
        self._validator = validator_for(schema)  # "integer" refuses floats

    def validate(self, body: Any) -> None:
        """Drops (in place) the optional fields sent as null, then checks the rest."""
        drop_absent_nulls(body, self._schema)
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(body))
        if error is None:
            return
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else "?"
            name = f"{path}.{missing}" if path else missing
            raise MatrixError(400, Codes.MISSING_PARAM, f"Missing parameter: {name}")
        where = f"'{path}'" if path else "body"
        if error.validator == "type":
            expected = error.validator_value
            expected = " or ".join(expected) if isinstance(expected, list) else expected
            raise MatrixError(400, Codes.BAD_JSON, f"{where} must be of type {expected}")
        if error.validator == "additionalProperties" and not path:
            raise MatrixError(400, Codes.BAD_JSON, error.message)
        raise MatrixError(400, Codes.INVALID_PARAM, f"Invalid value for {where}: {error.message}")


def _query_arg(request: HomeserverRequest, name: str) -> str | None:
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise MatrixError(400, Codes.INVALID_PARAM, f"Query parameter {name!r} must be UTF-8") from None


def parse_string(request: HomeserverRequest, name: str, default: str | None = None, required: bool = False,
                 allowed: Iterable[str] | None = None) -> str | None:
    value = _query_arg(request, name)
    if value is None:
        if required:
            raise MatrixError(400, Codes.MISSING_PARAM, f"Missing string query parameter {name!r}")
        return default
    if allowed is not None and value not in allowed:
        raise MatrixError(400, Codes.INVALID_PARAM,
                          f"Query parameter {name!r} must be one of {', '.join(sorted(allowed))}")
    return value


def parse_integer(request: HomeserverRequest, name: str, default: int | None = None,
                  required: bool = False, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """A decimal integer query parameter within [minimum, maximum] and never beyond the canonical
    JSON range (numbers.py): 400 M_INVALID_PARAM otherwise, before it can reach the database."""
    value = _query_arg(request, name)
    if value is None:
        if required:
            raise MatrixError(400, Codes.MISSING_PARAM, f"Missing integer query parameter {name!r}")
        return default
    return parse_decimal(value, f"Query parameter {name!r}", minimum, maximum)


def parse_boolean(request: HomeserverRequest, name: str, default: bool | None = None) -> bool | None:
    value = _query_arg(request, name)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise MatrixError(400, Codes.INVALID_PARAM, f"Query parameter {name!r} must be 'true' or 'false'")
    return value == "true"


_VERSION_PREFIX = re.compile(r"^/_matrix/client/[^/]+")


def operation_path(request: HomeserverRequest) -> str:
    """The request's path without its API version, naming the operation a UIA session is for."""
    return _VERSION_PREFIX.sub("", request.path.decode("utf-8", "replace"))


def get_access_token(request: HomeserverRequest) -> str | None:
    header = request.requestHeaders.getRawHeaders(b"authorization")
    if header:
        scheme, _, token = header[0].decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise MatrixError(401, Codes.MISSING_TOKEN, "Invalid Authorization header")
        return token.strip()
    return _query_arg(request, "access_token")


MAX_USER_AGENT_LENGTH = 1024  # recorded per device (GET /admin/whois): bounded


def user_agent(request: HomeserverRequest) -> str:
    raw = request.getHeader(b"user-agent") or b""
    return raw.decode("utf-8", "replace")[:MAX_USER_AGENT_LENGTH]


# -- servlets and routing -----------------------------------------------------------------------


Handler = Callable[..., Awaitable[tuple[int, Any]]]


def cancellable(method: Handler) -> Handler:
    """Marks a servlet method whose work is dropped when its client disconnects (a long-poll, a
    read): the handler is cancelled where it waits, so a gone client costs nothing more. Only for
    methods that write nothing a client relies on: a write cancelled half-way is left half-done."""
    method.cancellable = True  # type: ignore[attr-defined]
    return method


def raise_suspended() -> None:
    raise MatrixError(403, Codes.USER_SUSPENDED, "Your account has been suspended by the server's administrator")


class RestServlet:
    """Base for servlets: `PATTERNS` and `on_<METHOD>` coroutines; `auth()` gives the requester.

    Guest accounts may call only the methods a servlet lists in `GUEST_METHODS` (spec: guest
    access, "Client behaviour"): every other authenticated call of a guest is refused here, so a
    new servlet is closed to guests until it says otherwise."""

    PATTERNS: list[re.Pattern[str]] = []
    GUEST_METHODS: frozenset[str] = frozenset()
    # Methods a suspended user may not call (403 M_USER_SUSPENDED): the actions Synapse refuses
    # them (sending, joining, inviting, creating rooms, changing their profile, uploading).
    SUSPENDED_REFUSED: frozenset[str] = frozenset()
    # Whether a locked account may call this (logging out); every other request of theirs gets
    # 401 M_USER_LOCKED.
    ALLOW_LOCKED = False

    def __init__(self, hs: HomeServer):
        self.hs = hs

    async def auth(self, request: HomeserverRequest) -> Requester:
        token = get_access_token(request)
        if token is None:
            raise MatrixError(401, Codes.MISSING_TOKEN, "Missing access token")
        requester = await self.hs.auth_handler.get_requester(token, request.client_ip(), user_agent(request),
                                                             allow_locked=self.ALLOW_LOCKED)
        method = request.method.decode("ascii", "replace")
        if requester.is_guest and method not in self.GUEST_METHODS:
            raise MatrixError(403, Codes.GUEST_ACCESS_FORBIDDEN, "Guest access not allowed")
        if requester.suspended and method in self.SUSPENDED_REFUSED:
            raise_suspended()
        return requester

    async def optional_auth(self, request: HomeserverRequest) -> Requester | None:
        """The requester if the request carries an access token (which must then be valid)."""
        if get_access_token(request) is None:
            return None
        return await self.auth(request)

    async def auth_admin(self, request: HomeserverRequest) -> Requester:
        requester = await self.auth(request)
        if not await self.hs.auth_handler.is_admin(requester.user_id):
            raise MatrixError(403, Codes.FORBIDDEN, "You are not a server admin")
        return requester


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], dict[str, tuple[Handler, str]]]] = []

    def register(self, servlet: RestServlet) -> None:
        methods = {}
        for method in ("GET", "POST", "PUT", "DELETE"):
            fn = getattr(servlet, f"on_{method}", None)
            if fn is not None:
                methods[method] = (fn, type(servlet).__name__)
        for pattern in servlet.PATTERNS:
            self._routes.append((pattern, methods))

    def match(self, path: str) -> tuple[dict[str, tuple[Handler, str]], dict[str, str]] | None:
        for pattern, methods in self._routes:
            m = pattern.fullmatch(path)
            if m:
                return methods, {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
        return None


class MatrixResource(Resource):
    """The whole HTTP surface as one leaf resource dispatching on the full path. JSON answers too
    big to encode at once are encoded in pieces on `cpu_pool` (util/json_encoding.py)."""

    isLeaf = True

    def __init__(self, router: Router, cpu_pool: CpuPool):
        super().__init__()
        self._router = router
        self._cpu_pool = cpu_pool

    def render(self, request: HomeserverRequest) -> Any:
        defer.ensureDeferred(self._handle(request))
        return server.NOT_DONE_YET

    async def _handle(self, request: HomeserverRequest) -> None:
        method = request.method.decode("ascii", "replace")
        request.request_id = f"{method}-{next(_request_counter)}"
        ip = request.client_ip()
        token = current_request_id.set(request.request_id)
        start = time.perf_counter()
        servlet_name = "unknown"
        try:
            handler, servlet_name, args = self._route(request, method)
            if getattr(handler, "cancellable", False):
                code, body = await self._cancellable(request, handler(request, **args))
            else:
                code, body = await handler(request, **args)
        except defer.CancelledError:
            if not request._disconnected:
                raise
            code, body = 499, None  # the client went away: nothing to answer (nginx's 499 in the log)
        except MatrixError as e:
            code, body = e.code, e.to_json()
        except Exception:
            logger.exception("Unhandled error while handling %s", _loggable_uri(request))
            code, body = 500, {"errcode": Codes.UNKNOWN, "error": "Internal server error"}
        if not request._disconnected:
            if isinstance(body, HtmlPage):
                respond_html(request, code, body.html)
            elif isinstance(body, RawBody):
                body.send(request, code)
            else:
                try:
                    chunks = await json_encoding.encode_response(body, self._cpu_pool)
                except Exception:
                    logger.exception("Could not encode the answer to %s", _loggable_uri(request))
                    code, body = 500, {"errcode": Codes.UNKNOWN, "error": "Internal server error"}
                    chunks = [json_encoding.encode_json(body)]
                if not request._disconnected:
                    _respond_json_chunks(request, code, body, chunks)
        elapsed = time.perf_counter() - start
        metrics.observe_request(servlet_name, method, code, elapsed)
        if access_logger.isEnabledFor(logging.INFO):
            access_logger.info("%s %.3fsec %d %s %s", ip, elapsed, code, method, _loggable_uri(request))
        current_request_id.reset(token)

    @staticmethod
    async def _cancellable(request: HomeserverRequest, work: Awaitable[tuple[int, Any]]) -> tuple[int, Any]:
        """Runs a cancellable handler, cancelling it if the connection closes first."""
        call = defer.ensureDeferred(work)  # type: ignore[arg-type]
        if request._disconnected:
            call.cancel()
        else:
            request.notifyFinish().addErrback(lambda _: call.cancel())
        return await call

    def _route(self, request: HomeserverRequest, method: str) -> tuple[Handler, str, dict[str, str]]:
        """The servlet method for this request, its name (for metrics), and the path arguments."""
        if method == "OPTIONS":  # CORS preflight: the headers are added to every response
            return _options, "options", {}
        found = self._router.match(request.path.decode("utf-8", "replace"))
        if found is None:
            raise MatrixError(404, Codes.UNRECOGNIZED, "Unrecognized request")
        methods, args = found
        if method == "HEAD" and "GET" in methods:
            method = "GET"
        if method not in methods:
            raise MatrixError(405, Codes.UNRECOGNIZED, f"Method {method} not allowed here")
        if request.body_too_large:
            raise MatrixError(413, Codes.TOO_LARGE, "Request body too large")
        handler, name = methods[method]
        return handler, name, args


async def _options(request: HomeserverRequest) -> tuple[int, Any]:
    return 200, {}


def respond_json(request: HomeserverRequest, code: int, body: Any) -> None:
    """A small JSON answer, encoded on the spot (servlets' own answers go through MatrixResource)."""
    _respond_json_chunks(request, code, body, [json_encoding.encode_json(body)])


def _respond_json_chunks(request: HomeserverRequest, code: int, body: Any, chunks: list[bytes]) -> None:
    if code == 429 and isinstance(body, dict) and isinstance(body.get("retry_after_ms"), int):
        seconds = -(-body["retry_after_ms"] // 1000)  # rounded up
        request.responseHeaders.setRawHeaders(b"Retry-After", [str(seconds).encode("ascii")])
    _respond(request, code, b"application/json", chunks)


def respond_html(request: HomeserverRequest, code: int, html: str) -> None:
    _respond(request, code, b"text/html; charset=utf-8", [html.encode("utf-8")])


def _respond(request: HomeserverRequest, code: int, content_type: bytes, chunks: list[bytes]) -> None:
    request.setResponseCode(code)
    headers = request.responseHeaders
    headers.setRawHeaders(b"Content-Type", [content_type])
    headers.setRawHeaders(b"Content-Length", [str(sum(map(len, chunks))).encode("ascii")])
    headers.setRawHeaders(b"Cache-Control", [b"no-cache, no-store, must-revalidate"])
    for name, value in CORS_HEADERS.items():
        headers.setRawHeaders(name, [value])
    if request.method != b"HEAD":
        for chunk in chunks:
            request.write(chunk)
    request.finish()


_TOKEN_IN_URI = re.compile(r"((?:access_token|token|client_secret)=)[^&]*")


def _loggable_uri(request: HomeserverRequest) -> str:
    uri = request.uri.decode("utf-8", "replace")
    return _TOKEN_IN_URI.sub(r"\1<redacted>", uri) if ("token=" in uri or "client_secret=" in uri) else uri
