"""The email section, registrations_require_3pid and allowed_local_3pids: defaults, and the
start-up errors a wrong setting gets."""

from twisted.trial import unittest

from homeserver.config import Config, ConfigError

BASE = {"server_name": "example.com", "public_baseurl": "https://matrix.example.com/"}
EMAIL = {"notif_from": "Example <noreply@example.com>"}


def load(**raw):
    return Config({**BASE, **raw}, "/tmp")


class EmailConfigTest(unittest.TestCase):
    def test_defaults(self) -> None:
        self.assertIsNone(load().email)
        e = load(email=EMAIL).email
        self.assertEqual((e.smtp_host, e.smtp_port, e.force_tls, e.enable_tls, e.require_transport_security),
                         ("localhost", 25, False, True, False))
        self.assertEqual(e.validation_token_lifetime_ms, 3_600_000)
        self.assertEqual(e.app_name, "Matrix")
        self.assertEqual(e.client_base_url, "https://matrix.example.com/")
        self.assertEqual(load(email={**EMAIL, "force_tls": True}).email.smtp_port, 465)
        self.assertEqual(load(email={**EMAIL, "riot_base_url": "https://app.example.com"}).email.client_base_url,
                         "https://app.example.com/")
        e = load(email={**EMAIL, "subjects": {"password_reset": "Reset on %(server_name)s"}}).email
        self.assertEqual(e.subject("password_reset", server_name="example.com"), "Reset on example.com")
        self.assertEqual(e.subject("email_validation", server_name="example.com"),
                         "[example.com] Validate your email")

    def test_synapse_template_keys_accepted(self) -> None:
        e = load(email={**EMAIL, "notif_template_html": "notif_mail.html",
                        "password_reset_template_success_html": "ok.html"}).email
        self.assertEqual(e.notif_from, "Example <noreply@example.com>")
        with self.assertRaises(ConfigError) as cm:
            load(email={**EMAIL, "notif_templte_html": "typo"})
        self.assertIn("Config error at email", str(cm.exception))

    def test_open_registration_with_required_email(self) -> None:
        config = load(enable_registration=True, registrations_require_3pid=["email"], email=EMAIL)
        self.assertEqual(config.registrations_require_3pid, ["email"])

    def test_errors(self) -> None:
        cases = [
            ({"email": {}}, "email.notif_from"),
            ({"email": {"notif_from": "not an address"}}, "email.notif_from"),
            ({"email": {**EMAIL, "force_tls": True, "enable_tls": False}}, "email.force_tls"),
            ({"email": {**EMAIL, "require_transport_security": True, "enable_tls": False}},
             "email.require_transport_security"),
            ({"email": {**EMAIL, "smtp_pass": "secret"}}, "email.smtp_pass"),
            ({"email": {**EMAIL, "smtp_host": "smtp.example.com/25"}}, "email.smtp_host"),
            ({"email": {**EMAIL, "smtp_port": 70000}}, "email.smtp_port"),
            ({"email": {**EMAIL, "smtp_port": "twenty-five"}}, "email.smtp_port"),
            ({"email": {**EMAIL, "smtp_hots": "typo"}}, "email"),
            ({"email": {**EMAIL, "validation_token_lifetime": "10s"}}, "email.validation_token_lifetime"),
            ({"email": {**EMAIL, "client_base_url": "app.example.com"}}, "email.client_base_url"),
            ({"email": {**EMAIL, "subjects": {"no_such_kind": "x"}}}, "email.subjects.no_such_kind"),
            ({"email": {**EMAIL, "template_dir": "/nonexistent/templates"}}, "email.template_dir"),
            ({"registrations_require_3pid": ["email"]}, "registrations_require_3pid"),
            ({"registrations_require_3pid": ["msisdn"], "email": EMAIL}, "registrations_require_3pid"),
            ({"allowed_local_3pids": [{"medium": "email", "pattern": "("}]}, "allowed_local_3pids[0].pattern"),
            ({"allowed_local_3pids": [{"medium": "email"}]}, "allowed_local_3pids[0]"),
            ({"enable_registration": True, "email": EMAIL}, "enable_registration"),
        ]
        for raw, where in cases:
            with self.assertRaises(ConfigError, msg=raw) as cm:
                load(**raw)
            self.assertIn(f"Config error at {where}", str(cm.exception), raw)
