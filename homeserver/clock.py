"""The server's clock: wall time and timers, on whatever reactor it is given (a fake one in tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer, task
from twisted.python.failure import Failure


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

    def wait_at_most(self, d: defer.Deferred, seconds: float) -> defer.Deferred:
        """A Deferred with `d`'s outcome, or failing with defer.TimeoutError once `seconds` have
        passed; `d` itself goes on (its work, e.g. a fetch that fills a cache, is not lost)."""
        out: defer.Deferred = defer.Deferred()

        def expire() -> None:
            if not out.called:
                out.errback(defer.TimeoutError(f"no answer within {seconds} s"))

        timer = self._reactor.callLater(seconds, expire)

        def done(result: Any) -> None:
            if timer.active():
                timer.cancel()
            if not out.called:
                out.errback(result) if isinstance(result, Failure) else out.callback(result)

        d.addBoth(done)
        return out
