"""The HTTP framework's own behaviour: errors, limits, CORS, tokens."""

import logging
import re

from homeserver.logging_setup import RequestIdFilter
from homeserver.rest.http import MatrixResource, MatrixSite, RestServlet
from tests.server import HomeserverTestCase


class BoomServlet(RestServlet):
    PATTERNS = [re.compile("^/_matrix/client/v3/boom$")]

    async def on_GET(self, request):
        raise RuntimeError("secret internal detail")


class UnencodableServlet(RestServlet):
    """Answers with a value JSON cannot hold: small, or big enough to be encoded in pieces."""

    PATTERNS = [re.compile("^/_matrix/client/v3/unencodable/(?P<size>[a-z]+)$")]

    async def on_GET(self, request, size):
        filler = [{"n": i} for i in range(10_000)] if size == "big" else []
        return 200, {"filler": filler, "bad": object()}


class HttpFrameworkTest(HomeserverTestCase):
    config_overrides = {"max_request_body_size": 1000}

    async def test_unknown_endpoint_is_404_unrecognized(self) -> None:
        r = await self.get("/_matrix/client/v3/no/such/thing")
        self.assert_error(r, 404, "M_UNRECOGNIZED")

    async def test_auth_metadata_is_unrecognized_without_oauth(self) -> None:
        r = await self.get("/_matrix/client/v1/auth_metadata")
        self.assert_error(r, 404, "M_UNRECOGNIZED")

    async def test_wrong_method_is_405_unrecognized(self) -> None:
        r = await self.request("PUT", "/_matrix/client/v3/login", {})
        self.assert_error(r, 405, "M_UNRECOGNIZED")

    async def test_invalid_json_is_not_json(self) -> None:
        await self.assert_rejected_without_change(
            "POST", "/_matrix/client/v3/register", None, 400, "M_NOT_JSON", raw_body=b"{not json")
        await self.assert_rejected_without_change(
            "POST", "/_matrix/client/v3/login", None, 400, "M_NOT_JSON", raw_body=b"\xff\xfe")
        await self.assert_rejected_without_change(
            "POST", "/_matrix/client/v3/login", None, 400, "M_NOT_JSON", raw_body=b'{"a": NaN}')

    async def test_json_that_is_not_an_object_is_bad_json(self) -> None:
        await self.assert_rejected_without_change("POST", "/_matrix/client/v3/login", [1, 2], 400, "M_BAD_JSON")

    async def test_schema_errors_name_the_field(self) -> None:
        r = await self.assert_rejected_without_change(
            "POST", "/_matrix/client/v3/login", {"identifier": {"type": "m.id.user"}}, 400, "M_MISSING_PARAM")
        self.assertIn("type", r.json["error"])
        r = await self.assert_rejected_without_change(
            "POST", "/_matrix/client/v3/register", {"username": 5}, 400, "M_BAD_JSON")
        self.assertIn("username", r.json["error"])
        r = await self.assert_rejected_without_change(
            "POST", "/_matrix/client/v3/register", {"username": "x", "password": "p" * 600}, 400, "M_INVALID_PARAM")
        self.assertIn("password", r.json["error"])

    async def test_invalid_query_param(self) -> None:
        r = await self.get("/_matrix/client/v3/register/available")
        self.assert_error(r, 400, "M_MISSING_PARAM")
        r = await self.request("POST", "/_matrix/client/v3/register?kind=robot", {})
        self.assert_error(r, 400, "M_INVALID_PARAM")

    async def test_body_too_large(self) -> None:
        await self.assert_rejected_without_change(
            "POST", "/_matrix/client/v3/register", {"username": "big", "password": "x" * 2000}, 413, "M_TOO_LARGE")

    async def test_missing_and_unknown_token(self) -> None:
        r = await self.get("/_matrix/client/v3/account/whoami")
        self.assert_error(r, 401, "M_MISSING_TOKEN")
        r = await self.get("/_matrix/client/v3/account/whoami", token="nope")
        self.assert_error(r, 401, "M_UNKNOWN_TOKEN")
        self.assertEqual(r.json.get("soft_logout"), False)
        r = await self.request("GET", "/_matrix/client/v3/account/whoami", headers={"Authorization": "Basic xyz"})
        self.assert_error(r, 401, "M_MISSING_TOKEN")

    async def test_access_token_in_query_string(self) -> None:
        user = await self.register("alice")
        r = await self.get(f"/_matrix/client/v3/account/whoami?access_token={user['access_token']}")
        self.assertEqual(r.code, 200)
        self.assertEqual(r.json["user_id"], "@alice:test")

    async def test_options_gives_cors_headers(self) -> None:
        r = await self.request("OPTIONS", "/_matrix/client/v3/login")
        self.assertEqual(r.code, 200)
        self.assertEqual(r.headers["access-control-allow-origin"], "*")
        self.assertIn("Authorization", r.headers["access-control-allow-headers"])
        self.assertIn("DELETE", r.headers["access-control-allow-methods"])

    async def test_an_answer_that_cannot_be_encoded_is_500(self) -> None:
        router = self.hs.build_router()
        router.register(UnencodableServlet(self.hs))
        self.site = MatrixSite(MatrixResource(router, self.hs.cpu_pool), 1000, 1000)
        self.site.timeOut = None
        for size in ("small", "big"):
            self.assert_error(await self.get(f"/_matrix/client/v3/unencodable/{size}"), 500, "M_UNKNOWN")
        self.flushLoggedErrors(TypeError)

    async def test_unexpected_error_is_500_without_traceback(self) -> None:
        router = self.hs.build_router()
        router.register(BoomServlet(self.hs))
        self.site = MatrixSite(MatrixResource(router, self.hs.cpu_pool), 1000, 1000)
        self.site.timeOut = None
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append
        handler.addFilter(RequestIdFilter())
        logging.getLogger("homeserver.rest.http").addHandler(handler)
        self.addCleanup(logging.getLogger("homeserver.rest.http").removeHandler, handler)
        r = await self.get("/_matrix/client/v3/boom")
        self.assert_error(r, 500, "M_UNKNOWN")
        self.assertNotIn(b"secret internal detail", r.body)
        self.assertNotIn(b"Traceback", r.body)
        # The log has the traceback, tagged with the request id.
        [record] = [r for r in records if r.levelno == logging.ERROR]
        self.assertEqual(record.exc_info[0], RuntimeError)
        self.assertRegex(record.request, r"^GET-\d+$")
