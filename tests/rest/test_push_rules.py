"""Push rule endpoints: the ruleset, adding/ordering/deleting user rules, enabled and actions."""

from urllib.parse import quote

from tests.server import HomeserverTestCase

V3 = "/_matrix/client/v3"
RULES = f"{V3}/pushrules/global"


class PushRulesTest(HomeserverTestCase):
    async def setup_alice(self):
        self.alice_id = "@alice:" + self.hs.config.server_name
        self.alice = (await self.register("alice"))["access_token"]

    async def ruleset(self):
        r = await self.get(f"{V3}/pushrules/", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        return r.json["global"]

    async def put(self, path, body, code=200):
        r = await self.request("PUT", f"{RULES}/{path}", body, token=self.alice)
        self.assertEqual(r.code, code, r.json)
        return r

    async def ids(self, kind):
        return [rule["rule_id"] for rule in (await self.ruleset())[kind]]

    async def test_default_ruleset(self):
        await self.setup_alice()
        ruleset = await self.ruleset()
        self.assertEqual(set(ruleset), {"override", "content", "room", "sender", "underride"})
        self.assertEqual([r["rule_id"] for r in ruleset["override"]], [
            ".m.rule.master", ".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.member_event",
            ".m.rule.is_user_mention", ".m.rule.is_room_mention", ".m.rule.tombstone", ".m.rule.reaction",
            ".m.rule.room.server_acl", ".m.rule.suppress_edits"])
        self.assertEqual([r["rule_id"] for r in ruleset["underride"]], [
            ".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one", ".m.rule.message",
            ".m.rule.encrypted"])
        self.assertEqual(ruleset["content"], [])
        master = ruleset["override"][0]
        self.assertEqual(master, {"rule_id": ".m.rule.master", "default": True, "enabled": False,
                                  "conditions": [], "actions": []})
        invite = ruleset["override"][2]
        self.assertEqual(invite["conditions"][2], {"kind": "event_match", "key": "state_key",
                                                   "pattern": self.alice_id})
        mention = ruleset["override"][4]
        self.assertEqual(mention["conditions"][0]["value"], self.alice_id)
        r = await self.get(f"{RULES}/", token=self.alice)
        self.assertEqual(r.json, ruleset)
        r = await self.get(f"{V3}/pushrules/")
        self.assert_error(r, 401, "M_MISSING_TOKEN")

    async def test_get_single_rule(self):
        await self.setup_alice()
        r = await self.get(f"{RULES}/underride/.m.rule.message", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        self.assertEqual(r.json["actions"], ["notify"])
        self.assertTrue(r.json["default"])
        self.assert_error(await self.get(f"{RULES}/override/.m.rule.message", token=self.alice), 404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{RULES}/override/nope", token=self.alice), 404, "M_NOT_FOUND")
        self.assert_error(await self.get(f"{RULES}/bogus/nope", token=self.alice), 400, "M_INVALID_PARAM")
        self.assert_error(await self.get(f"{V3}/pushrules/device/override/nope", token=self.alice),
                          400, "M_INVALID_PARAM")

    async def test_add_content_rule(self):
        await self.setup_alice()
        await self.put("content/cake", {"pattern": "cake", "actions": ["notify", {"set_tweak": "sound",
                                                                                  "value": "cakealarm.wav"}]})
        r = await self.get(f"{RULES}/content/cake", token=self.alice)
        self.assertEqual(r.json, {"rule_id": "cake", "default": False, "enabled": True, "pattern": "cake",
                                  "actions": ["notify", {"set_tweak": "sound", "value": "cakealarm.wav"}]})
        # updating keeps the rule's place and enabled flag
        await self.request("PUT", f"{RULES}/content/cake/enabled", {"enabled": False}, token=self.alice)
        await self.put("content/cake", {"pattern": "cake*", "actions": ["dont_notify"]})
        r = await self.get(f"{RULES}/content/cake", token=self.alice)
        self.assertEqual((r.json["pattern"], r.json["actions"], r.json["enabled"]), ("cake*", [], False))

    async def test_room_and_sender_rules(self):
        await self.setup_alice()
        room = "!dj234r78wl45Gh4D:matrix.org"
        await self.put(f"room/{quote(room)}", {"actions": []})
        await self.put(f"sender/{quote('@spambot:matrix.org')}", {"actions": []})
        ruleset = await self.ruleset()
        self.assertEqual(ruleset["room"], [{"rule_id": room, "default": False, "enabled": True, "actions": []}])
        self.assertEqual(ruleset["sender"][0]["rule_id"], "@spambot:matrix.org")

    async def test_ordering_with_before_and_after(self):
        await self.setup_alice()
        body = {"conditions": [{"kind": "event_match", "key": "content.body", "pattern": "x"}], "actions": []}
        await self.put("override/a", body)
        await self.put("override/b", body)  # new rules go first
        self.assertEqual((await self.ids("override"))[:3], [".m.rule.master", "b", "a"])
        await self.put("override/c?after=a", body)
        self.assertEqual((await self.ids("override"))[1:4], ["b", "a", "c"])
        await self.put("override/d?before=a", body)
        self.assertEqual((await self.ids("override"))[1:5], ["b", "d", "a", "c"])
        await self.put("override/b?after=c", body)  # moving an existing rule
        self.assertEqual((await self.ids("override"))[1:5], ["d", "a", "c", "b"])
        await self.put("override/e?before=a&after=b", body)  # before wins
        self.assertEqual((await self.ids("override"))[1:6], ["d", "e", "a", "c", "b"])
        self.assertEqual((await self.ids("override"))[6], ".m.rule.suppress_notices")
        await self.put("override/d", {"actions": ["notify"]})  # update in place
        self.assertEqual((await self.ids("override"))[1:6], ["d", "e", "a", "c", "b"])
        r = await self.get(f"{RULES}/override/d", token=self.alice)
        self.assertEqual(r.json["conditions"], [])

    async def test_underride_before_defaults(self):
        await self.setup_alice()
        await self.put("underride/mine", {"actions": ["notify"]})
        self.assertEqual((await self.ids("underride"))[:2], ["mine", ".m.rule.call"])

    async def test_put_refusals_change_nothing(self):
        await self.setup_alice()
        await self.put("override/a", {"actions": []})
        cases = [
            ("override/.m.rule.master", {"actions": []}, 400, "M_INVALID_PARAM"),
            ("override/.custom", {"actions": []}, 400, "M_INVALID_PARAM"),
            ("override/a%2Fb", {"actions": []}, 400, "M_INVALID_PARAM"),
            ("override/a%5Cb", {"actions": []}, 400, "M_INVALID_PARAM"),
            ("bogus/x", {"actions": []}, 400, "M_INVALID_PARAM"),
            ("override/x", {}, 400, "M_MISSING_PARAM"),
            ("override/x", {"actions": "notify"}, 400, "M_BAD_JSON"),
            ("override/x", {"actions": ["explode"]}, 400, "M_INVALID_PARAM"),
            ("override/x", {"actions": [{"value": 1}]}, 400, "M_INVALID_PARAM"),
            ("override/x", {"actions": [], "conditions": [{"key": "type"}]}, 400, "M_MISSING_PARAM"),
            ("override/x", {"actions": [], "conditions": "x"}, 400, "M_BAD_JSON"),
            ("content/x", {"actions": []}, 400, "M_MISSING_PARAM"),
            ("content/x", {"actions": [], "pattern": 3}, 400, "M_BAD_JSON"),
            ("content/x", {"actions": [], "pattern": "a" * 1001}, 400, "M_INVALID_PARAM"),
            ("override/x", {"actions": [], "conditions": [
                {"kind": "event_match", "key": "content.body", "pattern": "*" * 1001}]}, 400, "M_INVALID_PARAM"),
            ("override/x", {"actions": ["notify"] * 65}, 400, "M_INVALID_PARAM"),
            ("override/x", {"actions": [], "conditions": [
                {"kind": "event_match", "key": "type", "pattern": "m.*"}] * 65}, 400, "M_INVALID_PARAM"),
            ("room/not-a-room", {"actions": []}, 400, "M_INVALID_PARAM"),
            ("sender/not-a-user", {"actions": []}, 400, "M_INVALID_PARAM"),
            ("override/x?before=missing", {"actions": []}, 400, "M_UNKNOWN"),
            ("override/x?after=.m.rule.suppress_notices", {"actions": []}, 400, "M_UNKNOWN"),
            ("underride/x?after=a", {"actions": []}, 400, "M_UNKNOWN"),  # a is an override rule
        ]
        for path, body, code, errcode in cases:
            await self.assert_rejected_without_change("PUT", f"{RULES}/{path}", body, code, errcode,
                                                      token=self.alice)
        await self.assert_rejected_without_change("PUT", f"{RULES}/override/x", None, 400, "M_NOT_JSON",
                                                  token=self.alice, raw_body=b"{nope")

    async def test_number_of_rules_is_bounded(self):
        from homeserver.handlers import push_rules
        self.patch(push_rules, "MAX_USER_RULES", 3)
        await self.setup_alice()
        await self.put("override/a", {"actions": []})
        await self.put("content/b", {"actions": [], "pattern": "b"})
        await self.put("sender/@c:x", {"actions": []})
        await self.assert_rejected_without_change("PUT", f"{RULES}/underride/d", {"actions": []}, 400,
                                                  "M_INVALID_PARAM", token=self.alice)
        await self.put("override/a", {"actions": ["notify"]})  # changing a rule is not adding one
        await self.request("DELETE", f"{RULES}/override/a", token=self.alice)
        await self.put("underride/d", {"actions": []})

    async def test_delete(self):
        await self.setup_alice()
        await self.put("override/a", {"actions": []})
        await self.assert_rejected_without_change("DELETE", f"{RULES}/override/.m.rule.master", None, 400,
                                                  "M_INVALID_PARAM", token=self.alice)
        await self.assert_rejected_without_change("DELETE", f"{RULES}/override/nope", None, 404, "M_NOT_FOUND",
                                                  token=self.alice)
        await self.assert_rejected_without_change("DELETE", f"{RULES}/underride/a", None, 404, "M_NOT_FOUND",
                                                  token=self.alice)
        r = await self.request("DELETE", f"{RULES}/override/a", token=self.alice)
        self.assertEqual((r.code, r.json), (200, {}))
        self.assertNotIn("a", await self.ids("override"))
        self.assert_error(await self.get(f"{RULES}/override/a", token=self.alice), 404, "M_NOT_FOUND")

    async def test_enabled(self):
        await self.setup_alice()
        r = await self.get(f"{RULES}/override/.m.rule.master/enabled", token=self.alice)
        self.assertEqual(r.json, {"enabled": False})
        await self.put("override/.m.rule.master/enabled", {"enabled": True})
        r = await self.get(f"{RULES}/override/.m.rule.master/enabled", token=self.alice)
        self.assertEqual(r.json, {"enabled": True})
        self.assertTrue((await self.ruleset())["override"][0]["enabled"])
        await self.put("sender/%40x%3Ay/", {"actions": []}, code=404)  # trailing slash: not a route
        await self.put(f"sender/{quote('@x:y')}", {"actions": []})
        await self.put(f"sender/{quote('@x:y')}/enabled", {"enabled": False})
        r = await self.get(f"{RULES}/sender/{quote('@x:y')}/enabled", token=self.alice)
        self.assertEqual(r.json, {"enabled": False})
        for path, body, code, errcode in [
            ("override/nope/enabled", {"enabled": True}, 404, "M_NOT_FOUND"),
            ("underride/.m.rule.master/enabled", {"enabled": True}, 404, "M_NOT_FOUND"),
            ("override/.m.rule.master/enabled", {"enabled": "yes"}, 400, "M_BAD_JSON"),
            ("override/.m.rule.master/enabled", {}, 400, "M_MISSING_PARAM"),
            ("bogus/x/enabled", {"enabled": True}, 400, "M_INVALID_PARAM"),
        ]:
            await self.assert_rejected_without_change("PUT", f"{RULES}/{path}", body, code, errcode,
                                                      token=self.alice)
        self.assert_error(await self.get(f"{RULES}/override/nope/enabled", token=self.alice), 404, "M_NOT_FOUND")

    async def test_actions(self):
        await self.setup_alice()
        r = await self.get(f"{RULES}/underride/.m.rule.message/actions", token=self.alice)
        self.assertEqual(r.json, {"actions": ["notify"]})
        new = ["notify", {"set_tweak": "highlight"}]
        await self.put("underride/.m.rule.message/actions", {"actions": new})
        r = await self.get(f"{RULES}/underride/.m.rule.message", token=self.alice)
        self.assertEqual((r.json["actions"], r.json["enabled"], r.json["default"]), (new, True, True))
        # enabled and actions changes to a predefined rule are kept together
        await self.put("underride/.m.rule.message/enabled", {"enabled": False})
        r = await self.get(f"{RULES}/underride/.m.rule.message", token=self.alice)
        self.assertEqual((r.json["actions"], r.json["enabled"]), (new, False))
        await self.put("content/cake", {"pattern": "cake", "actions": []})
        await self.put("content/cake/actions", {"actions": ["notify", "coalesce"]})
        r = await self.get(f"{RULES}/content/cake/actions", token=self.alice)
        self.assertEqual(r.json, {"actions": ["notify"]})
        for path, body, code, errcode in [
            ("content/nope/actions", {"actions": []}, 404, "M_NOT_FOUND"),
            ("content/cake/actions", {}, 400, "M_MISSING_PARAM"),
            ("content/cake/actions", {"actions": [1]}, 400, "M_BAD_JSON"),
            ("content/cake/actions", {"actions": ["nope"]}, 400, "M_INVALID_PARAM"),
            ("underride/.m.rule.message/actions", {"actions": ["nope"]}, 400, "M_INVALID_PARAM"),
        ]:
            await self.assert_rejected_without_change("PUT", f"{RULES}/{path}", body, code, errcode,
                                                      token=self.alice)

    async def test_rules_are_per_user_and_feed_the_evaluator(self):
        await self.setup_alice()
        bob = (await self.register("bob"))["access_token"]
        await self.put("override/.m.rule.master/enabled", {"enabled": True})
        r = await self.get(f"{RULES}/override/.m.rule.master/enabled", token=bob)
        self.assertEqual(r.json, {"enabled": False})
        from homeserver.push.evaluator import PushContext
        event = {"type": "m.room.message", "sender": "@bob:x", "content": {"msgtype": "m.text", "body": "hi"}}
        handler = self.hs.push_rules_handler
        ctx = PushContext(user_id=self.alice_id, member_count=2)
        self.assertFalse((await handler.get_evaluator(self.alice_id)).notification(event, ctx).notify)
        await self.put("override/.m.rule.master/enabled", {"enabled": False})  # the cache is dropped
        self.assertTrue((await handler.get_evaluator(self.alice_id)).notification(event, ctx).notify)

    async def test_changes_published_as_account_data(self):
        await self.setup_alice()
        store = self.hs.account_data_store
        self.assertIsNone(await store.get(self.alice_id, "", "m.push_rules"))
        await self.put("override/.m.rule.master/enabled", {"enabled": True})
        content = await store.get(self.alice_id, "", "m.push_rules")
        self.assertEqual(content, {"global": await self.ruleset()})
        self.assertTrue(content["global"]["override"][0]["enabled"])
        await self.put("content/cake", {"pattern": "cake", "actions": ["notify"]})
        content = await store.get(self.alice_id, "", "m.push_rules")
        self.assertEqual([r["rule_id"] for r in content["global"]["content"]], ["cake"])
        r = await self.get(f"{V3}/sync", token=self.alice)
        self.assertEqual(r.code, 200, r.json)
        types = [e["type"] for e in r.json.get("account_data", {}).get("events", [])]
        self.assertIn("m.push_rules", types)

    async def test_an_evaluator_built_from_rules_read_before_a_change_is_not_kept(self):
        await self.setup_alice()
        from twisted.internet import defer

        from homeserver.push.evaluator import PushContext
        event = {"type": "m.room.message", "sender": "@bob:x", "content": {"msgtype": "m.text", "body": "hi"}}
        ctx = PushContext(user_id=self.alice_id, member_count=2)
        handler = self.hs.push_rules_handler
        # A build reads the rules (master rule off), then waits; meanwhile the master rule goes on.
        read_rules = handler.get_ruleset
        release: defer.Deferred = defer.Deferred()

        async def slow_read(user_id):
            rules = await read_rules(user_id)
            await release
            return rules

        handler.get_ruleset = slow_read
        building = defer.ensureDeferred(handler.get_evaluator(self.alice_id))
        handler.get_ruleset = read_rules
        await self.put("override/.m.rule.master/enabled", {"enabled": True})
        release.callback(None)
        self.assertTrue((await building).notification(event, ctx).notify)  # read before the change
        # ...but not cached: the next evaluation sees the master rule.
        self.assertFalse((await handler.get_evaluator(self.alice_id)).notification(event, ctx).notify)
