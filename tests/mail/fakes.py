"""A mail transport for in-process tests: records what the SMTP server would have been handed,
or fails on demand."""

from __future__ import annotations

import email
import email.policy
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

EMAIL_CONFIG = {"smtp_host": "127.0.0.1", "smtp_port": 2525, "notif_from": "Test server <noreply@matrix.test>"}


class FakeMailTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []
        self.fail_with: Exception | None = None
        self.attempts = 0

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        self.attempts += 1
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((sender, recipient, message))


def parse_mail(message: bytes) -> Any:
    return email.message_from_bytes(message, policy=email.policy.default)


def mail_text(message: bytes) -> str:
    return parse_mail(message).get_body(preferencelist=("plain",)).get_content()


def mail_link(message: bytes) -> str:
    match = re.search(r"https?://\S+submit_token\S+", mail_text(message))
    assert match, "no validation link in the mail"
    return match.group(0)


def link_params(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
