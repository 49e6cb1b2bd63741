from twisted.internet import task
from twisted.trial import unittest

from homeserver.api.errors import LimitExceeded
from homeserver.clock import Clock
from homeserver.ratelimit import RateLimiter


class RateLimiterTest(unittest.TestCase):
    def test_burst_then_refill(self) -> None:
        fake = task.Clock()
        limiter = RateLimiter(Clock(fake), {"per_second": 0.5, "burst_count": 2})
        limiter.check("a")
        limiter.check("a")
        with self.assertRaises(LimitExceeded) as cm:
            limiter.check("a")
        self.assertEqual(cm.exception.code, 429)
        self.assertGreater(cm.exception.retry_after_ms, 1900)
        limiter.check("b")  # keys are independent
        fake.advance(2)
        limiter.check("a")
        self.assertRaises(LimitExceeded, limiter.check, "a")

    def test_check_without_update_and_record(self) -> None:
        fake = task.Clock()
        limiter = RateLimiter(Clock(fake), {"per_second": 1, "burst_count": 1})
        limiter.check("a", update=False)
        limiter.check("a", update=False)
        limiter.record("a")
        self.assertRaises(LimitExceeded, limiter.check, "a")

    def test_full_buckets_are_forgotten(self) -> None:
        fake = task.Clock()
        limiter = RateLimiter(Clock(fake), {"per_second": 1, "burst_count": 5})
        limiter.check("a")
        fake.advance(120)
        limiter.check("b")
        self.assertNotIn("a", limiter._buckets)
