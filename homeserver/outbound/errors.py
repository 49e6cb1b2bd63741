"""What can go wrong with an outgoing request. Every failure is an OutboundError; callers that care
why catch the subclasses."""

from __future__ import annotations


class OutboundError(Exception):
    """The request failed: refused by policy, unreachable, timed out, too large, bad answer..."""


class AddressRefused(OutboundError):
    """The destination is an address the policy does not allow (refused before any packet is sent)."""

    def __init__(self, host: str):
        super().__init__(f"{host} is (or resolves to) an address this server does not connect to")
        self.host = host


class InvalidUrl(OutboundError):
    """Not an http(s) URL with a host (the first one, or a redirect's Location)."""


class ResponseTooLarge(OutboundError):
    pass


class RequestTimedOut(OutboundError):
    pass


class TooManyRedirects(OutboundError):
    pass
