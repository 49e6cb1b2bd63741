"""The real server process and its outgoing requests: with the default config a pusher aimed at a
loopback listener gets nothing (refused before connecting), with loopback whitelisted it gets the
push; a URL preview of a page that stalls Python's html.parser is answered and the server keeps
serving."""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.parse
from typing import Any

from twisted.trial import unittest

from tests.clients.server_process import ServerProcess

V3 = "/_matrix/client/v3"
NOTIFY_PATH = "/_matrix/push/v1/notify"
PATHOLOGICAL = b"<a " * 20000
DEADLINE_S = 60.0


class _Listener(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, body))
        self._answer(b'{"rejected": []}', "application/json")

    def do_GET(self) -> None:  # noqa: N802
        self.received.append((self.path, b""))
        self._answer(PATHOLOGICAL if self.path == "/pathological" else b"<title>ok</title>", "text/html")

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def start_listener(test: unittest.TestCase) -> tuple[int, list[tuple[str, bytes]]]:
    """A web server on 127.0.0.1 in a thread; the requests it received."""
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (_Listener,), {"received": received})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join()

    test.addCleanup(stop)
    return httpd.server_address[1], received


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


class OutboundProcessTest(unittest.TestCase):
    timeout = 300

    def start_server(self, overrides: dict[str, Any]) -> ServerProcess:
        server = ServerProcess(overrides)
        server.start()
        self.addCleanup(server.stop)
        return server

    def call(self, server: ServerProcess, method: str, path: str, token: str, body: Any = None) -> Any:
        status, answer = server.request(method, path, body, access_token=token)
        self.assertEqual(status, 200, answer)
        return answer

    def pusher(self, url: str) -> dict[str, Any]:
        return {"kind": "http", "app_id": "org.example.app", "pushkey": "pk-bob", "app_display_name": "Example",
                "device_display_name": "Phone", "lang": "en", "data": {"url": url}}

    def room_with_pusher(self, server: ServerProcess, url: str) -> tuple[str, str]:
        alice = server.register_admin_via_shared_secret("alice", "pw")["access_token"]
        bob = server.register_admin_via_shared_secret("bob", "pw")["access_token"]
        room = self.call(server, "POST", f"{V3}/createRoom", alice, {"invite": ["@bob:localhost"]})["room_id"]
        self.call(server, "POST", f"{V3}/join/{urllib.parse.quote(room)}", bob, {})
        self.call(server, "POST", f"{V3}/pushers/set", bob, self.pusher(url))
        self.call(server, "PUT", f"{V3}/rooms/{urllib.parse.quote(room)}/send/m.room.message/t1", alice,
                  {"msgtype": "m.text", "body": "hello bob"})
        return alice, bob

    def test_default_config_refuses_a_loopback_push_gateway(self) -> None:
        port, received = start_listener(self)
        server = self.start_server({})
        alice = server.register_admin_via_shared_secret("carol", "pw")["access_token"]
        # Named by address: refused when the pusher is set.
        status, answer = server.request("POST", f"{V3}/pushers/set",
                                        self.pusher(f"http://127.0.0.1:{port}{NOTIFY_PATH}"), access_token=alice)
        self.assertEqual((status, answer["errcode"]), (400, "M_INVALID_PARAM"))
        # Named by a hostname that resolves to loopback: accepted, refused at each delivery.
        self.room_with_pusher(server, f"http://localhost:{port}{NOTIFY_PATH}")
        wait_for(lambda: "Refused an outgoing connection to localhost" in server.log_tail(100_000),
                 "the refused delivery in the log")
        self.assertEqual(received, [])

    def test_whitelisted_loopback_push_gateway_receives_the_push(self) -> None:
        port, received = start_listener(self)
        server = self.start_server({"ip_range_whitelist": ["127.0.0.1/32", "::1/128"]})
        self.room_with_pusher(server, f"http://localhost:{port}{NOTIFY_PATH}")
        wait_for(lambda: received, "the push")
        path, body = received[0]
        self.assertEqual(path, NOTIFY_PATH)
        self.assertEqual(json.loads(body)["notification"]["content"]["body"], "hello bob")

    def test_preview_of_a_pathological_page(self) -> None:
        port, received = start_listener(self)
        server = self.start_server({"url_preview_enabled": True,
                                    "url_preview_ip_range_whitelist": ["127.0.0.1/32"]})
        token = server.register_admin_via_shared_secret("alice", "pw")["access_token"]
        url = urllib.parse.quote(f"http://127.0.0.1:{port}/pathological", safe="")
        # html.parser takes about 40 s on this page: were it parsed on the reactor thread, the
        # request made meanwhile would not be answered (its client gives up after 15 s).
        answers: list[tuple[int, Any]] = []
        preview = threading.Thread(target=lambda: answers.append(server.request(
            "GET", f"/_matrix/client/v1/media/preview_url?url={url}", access_token=token, timeout=DEADLINE_S)))
        preview.start()
        wait_for(lambda: received, "the page to be fetched")
        status, _ = server.request("GET", "/_matrix/client/versions")
        self.assertEqual(status, 200)
        preview.join(DEADLINE_S)
        self.assertEqual(answers, [(200, {})])
        self.assertEqual([p for p, _ in received], ["/pathological"])
        # and the preview of a normal page still works
        url = urllib.parse.quote(f"http://127.0.0.1:{port}/ok", safe="")
        self.assertEqual(self.call(server, "GET", f"/_matrix/client/v1/media/preview_url?url={url}", token),
                         {"og:title": "ok"})
