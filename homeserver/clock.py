"""The server's clock: wall time and timers, on whatever reactor it is given (a fake one in tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import task


class Clock:
    def __init__(self, reactor: Any):
        self._reactor = reactor

    def time(self) -> float:
        return self._reactor.seconds()

    def time_msec(self) -> int:
        return int(self._reactor.seconds() * 1000)

    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> Any:
        return self._reactor.callLater(delay_s, fn, *args)

    def looping_call(self, interval_s: float, fn: Callable[[], Any]) -> task.LoopingCall:
        call = task.LoopingCall(fn)
        call.clock = self._reactor
        call.start(interval_s, now=False)
        return call
