"""/search details found in a conformance audit: a next_batch token is opaque to clients, so a
forged one must be refused with a 400, whatever number it carries."""

from __future__ import annotations

import json
from urllib.parse import quote

from unpaddedbase64 import encode_base64

from tests.rest.test_search import SEARCH, SearchTestCase


def forged_token(order_by: str, position: int) -> str:
    raw = json.dumps({"o": order_by, "p": position}).encode()
    return encode_base64(raw, urlsafe=True)


class ForgedTokenTests(SearchTestCase):
    async def test_positions_beyond_64_bits_are_refused(self) -> None:
        await self.setup_room()
        await self.send(self.alice, self.room_id, "hello there", "t1")
        for order_by in ("rank", "recent"):
            body = {"search_categories": {"room_events": {"search_term": "hello", "order_by": order_by}}}
            for position in (2**63, 10**30):
                r = await self.post(f"{SEARCH}?next_batch={quote(forged_token(order_by, position))}", body,
                                    token=self.bob)
                self.assert_error(r, 400, "M_INVALID_PARAM")
            # A position within range but past the end is an empty page.
            r = await self.post(f"{SEARCH}?next_batch={quote(forged_token(order_by, 2**53 - 1))}", body,
                                token=self.bob)
            self.assertEqual(r.code, 200, r.json)
            self.assertNotIn("next_batch", r.json["search_categories"]["room_events"])
