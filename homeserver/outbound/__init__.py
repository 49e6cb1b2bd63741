"""Outgoing HTTP to addresses that users or other servers chose, guarded: see client.py."""

from homeserver.outbound.client import OutboundClient, OutboundHttp, OutboundResponse, check_url
from homeserver.outbound.endpoint import HostResolver, ReactorResolver
from homeserver.outbound.errors import (
    AddressRefused,
    InvalidUrl,
    OutboundError,
    RequestTimedOut,
    ResponseTooLarge,
    TooManyRedirects,
)
from homeserver.outbound.ranges import DEFAULT_IP_RANGE_BLACKLIST, InvalidRange, IpRangePolicy
from homeserver.outbound.tls import TlsConfigError, TlsSettings

__all__ = [
    "DEFAULT_IP_RANGE_BLACKLIST", "AddressRefused", "HostResolver", "InvalidRange", "InvalidUrl", "IpRangePolicy",
    "OutboundClient", "OutboundError", "OutboundHttp", "OutboundResponse", "ReactorResolver", "RequestTimedOut",
    "ResponseTooLarge", "TlsConfigError", "TlsSettings", "TooManyRedirects", "check_url",
]
