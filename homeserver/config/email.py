"""The `email` section (Synapse's option names), checked at start-up."""

from __future__ import annotations

import email.utils
import os
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SUBJECTS = {
    "email_validation": "[%(server_name)s] Validate your email",
    "password_reset": "[%(server_name)s] Password reset",
    "message_from_person_in_room": "[%(app)s] You have a message on %(app)s from %(person)s in the %(room)s room...",
    "message_from_person": "[%(app)s] You have a message on %(app)s from %(person)s...",
    "messages_from_person": "[%(app)s] You have messages on %(app)s from %(person)s...",
    "messages_in_room": "[%(app)s] You have messages on %(app)s in the %(room)s room...",
    "messages_in_room_and_others": "[%(app)s] You have messages on %(app)s in the %(room)s room and others...",
    "messages_from_person_and_others": "[%(app)s] You have messages on %(app)s from %(person)s and others...",
    "invite_from_person": "[%(app)s] %(person)s has invited you to chat on %(app)s...",
    "invite_from_person_to_room": "[%(app)s] %(person)s has invited you to join the %(room)s room on %(app)s...",
    "invite_from_person_to_space": "[%(app)s] %(person)s has invited you to join the %(space)s space on %(app)s...",
}
TEMPLATE_NAMES = ("registration.txt", "password_reset.txt", "add_threepid.txt", "notif_mail.txt")


class EmailConfigError(ValueError):
    """Message starts with the option's path (`email.notif_from: ...`)."""


@dataclass(frozen=True)
class EmailSettings:
    smtp_host: str
    smtp_port: int
    smtp_user: str | None
    smtp_pass: str | None
    force_tls: bool
    require_transport_security: bool
    enable_tls: bool
    notif_from: str
    app_name: str
    client_base_url: str
    validation_token_lifetime_ms: int
    enable_notifs: bool
    notif_for_new_users: bool
    notif_delay_before_mail_ms: int
    subjects: dict[str, str]
    # Operator-provided template texts by file name (string.Template syntax); others are built in.
    templates: dict[str, str] = field(default_factory=dict)

    def subject(self, kind: str, **values: str) -> str:
        values = {"app": self.app_name, **values}
        try:
            return self.subjects[kind] % values
        except (KeyError, ValueError, TypeError):
            return DEFAULT_SUBJECTS[kind] % values

    @staticmethod
    def from_raw(raw: dict[str, Any], public_baseurl: str, duration_ms: Any, path: Any) -> EmailSettings:
        force_tls = raw["force_tls"]
        enable_tls = raw["enable_tls"]
        if force_tls and not enable_tls:
            raise EmailConfigError("email.force_tls: needs email.enable_tls to be true")
        if raw["require_transport_security"] and not enable_tls:
            raise EmailConfigError("email.require_transport_security: needs email.enable_tls to be true")
        if raw["smtp_pass"] is not None and raw["smtp_user"] is None:
            raise EmailConfigError("email.smtp_pass: set without email.smtp_user")
        host = raw["smtp_host"].strip()
        if not host or re.search(r"[\s/]", host):
            raise EmailConfigError(f"email.smtp_host: {raw['smtp_host']!r} is not a host name or address")
        app_name = raw["app_name"]
        notif_from = raw["notif_from"]
        if not notif_from:
            raise EmailConfigError("email.notif_from: required when the email section is present "
                                   "(the From address of every mail)")
        notif_from = notif_from.replace("%(app)s", app_name)
        if "@" not in email.utils.parseaddr(notif_from)[1]:
            raise EmailConfigError(f"email.notif_from: {raw['notif_from']!r} is not an e-mail address")
        lifetime = duration_ms(raw["validation_token_lifetime"])
        if lifetime < 60_000:
            raise EmailConfigError("email.validation_token_lifetime: must be at least a minute")
        client = raw["client_base_url"] or raw["riot_base_url"] or public_baseurl
        if not client.startswith(("http://", "https://")):
            raise EmailConfigError(f"email.client_base_url: {client!r} is not an http(s) URL")
        subjects = dict(DEFAULT_SUBJECTS)
        for kind, text in raw["subjects"].items():
            if kind not in DEFAULT_SUBJECTS:
                raise EmailConfigError(f"email.subjects.{kind}: unknown kind (known: {', '.join(DEFAULT_SUBJECTS)})")
            subjects[kind] = text
        templates: dict[str, str] = {}
        if raw["template_dir"]:
            directory = path(raw["template_dir"])
            if not os.path.isdir(directory):
                raise EmailConfigError(f"email.template_dir: {directory} is not a directory")
            for name in TEMPLATE_NAMES:
                file = os.path.join(directory, name)
                if os.path.exists(file):
                    with open(file, encoding="utf-8") as f:
                        templates[name] = f.read()
        return EmailSettings(
            smtp_host=host, smtp_port=raw["smtp_port"] or (465 if force_tls else 25),
            smtp_user=raw["smtp_user"], smtp_pass=raw["smtp_pass"], force_tls=force_tls,
            require_transport_security=raw["require_transport_security"], enable_tls=enable_tls,
            notif_from=notif_from, app_name=app_name, client_base_url=client if client.endswith("/") else client + "/",
            validation_token_lifetime_ms=lifetime, enable_notifs=raw["enable_notifs"],
            notif_for_new_users=raw["notif_for_new_users"],
            notif_delay_before_mail_ms=duration_ms(raw["notif_delay_before_mail"]),
            subjects=subjects, templates=templates,
        )
