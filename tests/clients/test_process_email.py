"""E-mail against a real SMTP server: the real server process hands its mails to aiosmtpd on
loopback (started by the test, with a login), and the test reads them and follows their links,
as a user would, to sign up with a confirmed address and to reset a forgotten password."""

from __future__ import annotations

import datetime
import email
import logging
import email.policy
import re
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from twisted.trial import unittest

from tests.clients.server_process import HOST, ServerProcess, free_port


def self_signed_localhost(directory: str) -> tuple[str, str]:
    """A certificate for `localhost` (and its key), written as PEM files; the server process is told
    to trust it (SSL_CERT_FILE), as an operator's system trusts their SMTP relay's CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = f"{directory}/smtp.crt", f"{directory}/smtp.key"
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError:  # pragma: no cover - the [test] extra installs it
    Controller = None

SMTP_USER, SMTP_PASS = "hs-mailer", "smtp-secret"
V3 = "/_matrix/client/v3"
MAIL_WAIT_S = 20


class Mailbox:
    """aiosmtpd's handler: keeps every accepted message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.logins: list[bytes] = []
        self._cond = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._cond:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.original_content, policy=email.policy.default)))
            self._cond.notify_all()
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            SMTP_USER.encode(), SMTP_PASS.encode())
        if ok:
            self.logins.append(auth_data.login)
        return AuthResult(success=ok, handled=False)

    def wait_for(self, count: int) -> Any:
        deadline = time.monotonic() + MAIL_WAIT_S
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no mail number {count} within {MAIL_WAIT_S}s")
                self._cond.wait(left)
            return self.messages[count - 1]


def link_in(message: Any) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://\S+submit_token\S+", text)
    assert match, text
    return match.group(0)


def open_url(url: str, method: str = "GET") -> tuple[int, str]:
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class EmailProcessTest(unittest.TestCase):
    def setUp(self) -> None:
        if Controller is None:
            raise unittest.SkipTest("aiosmtpd is not installed (pip install -e .[test])")
        self.mailbox = Mailbox()
        self.smtp_port = free_port()
        self.smtp = Controller(self.mailbox, hostname=HOST, port=self.smtp_port,
                               authenticator=self.mailbox.authenticate, auth_require_tls=False)
        self.smtp.start()
        self.addCleanup(self.smtp.stop)
        self.server = ServerProcess({
            "enable_registration": True,
            "enable_registration_without_verification": False,
            "registrations_require_3pid": ["email"],
            "email": {"smtp_host": HOST, "smtp_port": self.smtp_port, "smtp_user": SMTP_USER,
                      "smtp_pass": SMTP_PASS, "notif_from": "Loopback Matrix <matrix@localhost.test>",
                      "app_name": "Loopback"},
        })
        self.server.start()
        self.addCleanup(self.server.stop)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        return self.server.request(method, path, body, access_token=token)

    def test_sign_up_with_confirmed_email_then_reset_password(self) -> None:
        address = "Alice@Example.org"
        status, body = self.request("POST", f"{V3}/register/email/requestToken",
                                    {"client_secret": "c1", "email": address, "send_attempt": 1})
        self.assertEqual(status, 200, body)
        sid = body["sid"]
        mail_from, rcpt, message = self.mailbox.wait_for(1)
        self.assertEqual((mail_from, rcpt), ("matrix@localhost.test", ["alice@example.org"]))
        self.assertEqual(message["Subject"], "[localhost] Validate your email")
        self.assertEqual(self.mailbox.logins, [SMTP_USER.encode()])
        self.assertEqual(message["Auto-Submitted"], "auto-generated")
        self.assertIn("the SMTP server answers: 220", self.server.log_tail(20000))
        link = link_in(message)
        self.assertEqual(urlsplit(link).netloc, f"{HOST}:{self.server.port}")

        # Before the link is opened the stage is refused; after, the account is created.
        status, first = self.request("POST", f"{V3}/register", {"username": "alice", "password": "old pw"})
        self.assertEqual(status, 401, first)
        self.assertEqual(first["flows"], [{"stages": ["m.login.email.identity"]}])
        auth = {"type": "m.login.email.identity", "session": first["session"],
                "threepid_creds": {"sid": sid, "client_secret": "c1"}}
        status, body = self.request("POST", f"{V3}/register", {"auth": auth})
        self.assertEqual((status, body.get("errcode")), (401, "M_UNAUTHORIZED"), body)
        status, page = open_url(link)
        self.assertEqual(status, 200, page)
        self.assertIn("confirmed", page)
        self.assertEqual(open_url(link)[0], 400)  # a link works once
        status, body = self.request("POST", f"{V3}/register", {"auth": auth})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["user_id"], "@alice:localhost")
        status, listed = self.request("GET", f"{V3}/account/3pid", token=body["access_token"])
        self.assertEqual([t["address"] for t in listed["threepids"]], ["alice@example.org"])

        # Forgot the password: a reset mail, its link confirmed with a click, then the new password.
        status, body = self.request("POST", f"{V3}/account/password/email/requestToken",
                                    {"client_secret": "c2", "email": "alice@example.org", "send_attempt": 1})
        self.assertEqual(status, 200, body)
        reset_sid = body["sid"]
        _, _, message = self.mailbox.wait_for(2)
        self.assertEqual(message["Subject"], "[localhost] Password reset")
        link = link_in(message)
        status, page = open_url(link)
        self.assertEqual(status, 200)
        self.assertIn('<form method="post">', page)
        status, page = open_url(link, "POST")
        self.assertEqual(status, 200, page)
        status, body = self.request("POST", f"{V3}/account/password", {
            "new_password": "new pw",
            "auth": {"type": "m.login.email.identity", "threepid_creds": {"sid": reset_sid, "client_secret": "c2"}}})
        self.assertEqual(status, 200, body)
        login = {"type": "m.login.password",
                 "identifier": {"type": "m.id.thirdparty", "medium": "email", "address": "alice@example.org"}}
        status, body = self.request("POST", f"{V3}/login", {**login, "password": "old pw"})
        self.assertEqual(status, 403, body)
        status, body = self.request("POST", f"{V3}/login", {**login, "password": "new pw"})
        self.assertEqual((status, body.get("user_id")), (200, "@alice:localhost"), body)


class SmtpDownProcessTest(unittest.TestCase):
    def test_request_answers_while_smtp_is_down_and_failure_is_logged(self) -> None:
        dead_port = free_port()  # nothing listens there
        server = ServerProcess({
            "enable_registration": True, "registrations_require_3pid": ["email"],
            "enable_registration_without_verification": False,
            "email": {"smtp_host": HOST, "smtp_port": dead_port, "notif_from": "matrix@localhost.test"},
        })
        server.start()
        self.addCleanup(server.stop)
        self.assertTrue(self._logged(server, "cannot reach the SMTP server"))
        started = time.monotonic()
        status, body = server.request("POST", f"{V3}/register/email/requestToken",
                                      {"client_secret": "c", "email": "bob@example.org", "send_attempt": 1})
        self.assertEqual(status, 200, body)
        self.assertLess(time.monotonic() - started, 10)
        self.assertTrue(self._logged(server, "sending to bob@example.org failed"))
        self.assertIn("retrying in 30s", server.log_tail(20000))

    def _logged(self, server: ServerProcess, text: str) -> bool:
        deadline = time.monotonic() + MAIL_WAIT_S
        while text not in server.log_tail(20000):
            if time.monotonic() > deadline:
                self.fail(f"{text!r} was not logged:\n" + server.log_tail())
            time.sleep(0.2)
        return True


class TlsProcessTest(unittest.TestCase):
    """STARTTLS (required, with the login only over TLS) and implicit TLS (force_tls), the SMTP
    server's certificate verified against `localhost`."""

    def setUp(self) -> None:
        if Controller is None:
            raise unittest.SkipTest("aiosmtpd is not installed (pip install -e .[test])")
        self.dir = tempfile.mkdtemp(prefix="smtp-tls-")
        self.cert, key = self_signed_localhost(self.dir)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(self.cert, key)
        self.mailbox = Mailbox()

    def run_case(self, email_settings: dict[str, Any], trust: bool = True, **controller: Any) -> ServerProcess:
        port = free_port()
        smtp = Controller(self.mailbox, hostname=HOST, port=port, authenticator=self.mailbox.authenticate,
                          **controller)
        smtp.start()
        self.addCleanup(smtp.stop)
        server = ServerProcess({
            "enable_registration": True, "registrations_require_3pid": ["email"],
            "enable_registration_without_verification": False,
            "email": {"smtp_host": "localhost", "smtp_port": port, "smtp_user": SMTP_USER, "smtp_pass": SMTP_PASS,
                      "notif_from": "matrix@localhost.test", **email_settings},
        }, env={"SSL_CERT_FILE": self.cert} if trust else None)
        server.start()
        self.addCleanup(server.stop)
        status, body = server.request("POST", f"{V3}/register/email/requestToken",
                                      {"client_secret": "c", "email": "tls@example.org", "send_attempt": 1})
        self.assertEqual(status, 200, body)
        if not trust:
            return server
        try:
            _, rcpt, message = self.mailbox.wait_for(1)
        except AssertionError:
            self.fail("no mail; the server's log:\n" + server.log_tail())
        self.assertEqual(rcpt, ["tls@example.org"])
        self.assertIn("submit_token", link_in(message))
        self.assertEqual(self.mailbox.logins, [SMTP_USER.encode()])
        return server

    def test_untrusted_certificate_refused(self) -> None:
        # aiosmtpd logs the handshake our client aborts as an error with a traceback: expected here.
        mail_log = logging.getLogger("mail.log")
        self.addCleanup(mail_log.setLevel, mail_log.level)
        mail_log.setLevel(logging.CRITICAL)
        server = self.run_case({"require_transport_security": True}, trust=False, tls_context=self.tls,
                               require_starttls=True)
        deadline = time.monotonic() + MAIL_WAIT_S
        while "sending to tls@example.org failed" not in server.log_tail(20000):
            if time.monotonic() > deadline:
                self.fail("the failed send was not logged:\n" + server.log_tail())
            time.sleep(0.2)
        self.assertEqual((self.mailbox.messages, self.mailbox.logins), ([], []))

    def test_starttls_required(self) -> None:
        self.run_case({"require_transport_security": True}, tls_context=self.tls, require_starttls=True)

    def test_implicit_tls(self) -> None:
        # aiosmtpd does not count implicit TLS as TLS for its auth_require_tls: it is on from the first byte.
        self.run_case({"force_tls": True}, ssl_context=self.tls, server_hostname="localhost", auth_require_tls=False)
