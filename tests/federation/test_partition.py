"""State resolution across servers: while the link between two servers is down, both change the
room's state; when it heals, each receives the other's events (a fork of the room's graph) and
both resolve to the same current state (spec: rooms/v2+ state resolution)."""

from __future__ import annotations

from urllib.parse import quote

from tests.federation.two_servers import NAME_A, NAME_B, TwoServerTestCase

V3 = "/_matrix/client/v3"


class PartitionTest(TwoServerTestCase):
    async def test_a_partitioned_conflict_converges(self) -> None:
        alice, token_a = await self.register_on(self.site, "alice")
        bob, token_b = await self.register_on(self.site_b, "bob")
        r = await self.post(f"{V3}/createRoom", {"preset": "public_chat", "topic": "start"}, token=token_a)
        room_id = r.json["room_id"]
        r = await self.request("POST", f"{V3}/join/{quote(room_id)}?server_name={quote(NAME_A)}", {},
                               token=token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        power = (await self.get(f"{V3}/rooms/{quote(room_id)}/state/m.room.power_levels/", token=token_a)).json
        power["users"][bob] = 50
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.power_levels/", power,
                               token=token_a)
        self.assertEqual(r.code, 200, r.json)

        async def bob_has_power() -> bool:
            state = await self.hs_b.events_store.get_current_state_ids(room_id)
            return state.get(("m.room.power_levels", "")) == \
                (await self.hs.events_store.get_current_state_ids(room_id)).get(("m.room.power_levels", ""))

        await self.eventually(bob_has_power)

        # The partition: each side changes the topic, and A the power levels too.
        self.link_a.down.add(NAME_B)
        self.link_b.down.add(NAME_A)
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic/", {"topic": "from A"},
                               token=token_a)
        self.assertEqual(r.code, 200, r.json)
        power["users"][bob] = 40
        power["events"] = {**power.get("events", {}), "m.room.topic": 45}
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.power_levels/", power,
                               token=token_a)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/state/m.room.topic/", {"topic": "from B"},
                               token=token_b, site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/1",
                               {"msgtype": "m.text", "body": "B during the partition"}, token=token_b,
                               site=self.site_b)
        self.assertEqual(r.code, 200, r.json)
        await self.pump()

        # The link heals; each sender's retry delivers what the other missed.
        self.link_a.down.clear()
        self.link_b.down.clear()
        self.advance(13)

        async def converged() -> bool:
            a = await self.hs.events_store.get_current_state_ids(room_id)
            b = await self.hs_b.events_store.get_current_state_ids(room_id)
            return a == b and await self.hs.events_store.get_forward_extremity_ids(room_id) == \
                await self.hs_b.events_store.get_forward_extremity_ids(room_id)

        await self.eventually(converged)
        state = await self.hs.events_store.get_current_state_ids(room_id)
        topic = (await self.hs.events_store.get_events([state[("m.room.topic", "")]]))[state[("m.room.topic", "")]]
        # A's power change (bob below the topic's level) wins over bob's concurrent topic: A's topic.
        self.assertEqual(topic.content, {"topic": "from A"})
        # Both servers agree on the whole state, and the next event from either joins the branches.
        r = await self.request("PUT", f"{V3}/rooms/{quote(room_id)}/send/m.room.message/2",
                               {"msgtype": "m.text", "body": "healed"}, token=token_a)
        self.assertEqual(r.code, 200, r.json)

        async def one_extremity_on_b() -> bool:
            return await self.hs_b.events_store.get_forward_extremity_ids(room_id) == [r.json["event_id"]]

        await self.eventually(one_extremity_on_b)
