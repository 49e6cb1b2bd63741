"""Push rule endpoints: GET /pushrules/, GET/PUT/DELETE /pushrules/global/{kind}/{ruleId} and its
/enabled and /actions."""

from __future__ import annotations

from typing import Any

from homeserver.api.errors import invalid_param
from homeserver.rest.http import (
    HomeserverRequest,
    RestServlet,
    Validator,
    client_patterns,
    parse_json_object,
    parse_string,
)

RULE = "/pushrules/(?P<scope>[^/]+)/(?P<kind>[^/]+)/(?P<rule_id>[^/]+)"

_ACTIONS = {"type": "array", "items": {"type": ["string", "object"]}}
PUT_RULE_BODY = Validator({
    "type": "object",
    "required": ["actions"],
    "properties": {
        "actions": _ACTIONS,
        "conditions": {"type": "array", "items": {"type": "object", "required": ["kind"],
                                                  "properties": {"kind": {"type": "string"}}}},
        "pattern": {"type": "string"},
    },
})
ENABLED_BODY = Validator({"type": "object", "required": ["enabled"], "properties": {"enabled": {"type": "boolean"}}})
ACTIONS_BODY = Validator({"type": "object", "required": ["actions"], "properties": {"actions": _ACTIONS}})


def check_scope(scope: str) -> None:
    if scope != "global":
        raise invalid_param("The only push rule scope is 'global'")


class PushRulesServlet(RestServlet):
    PATTERNS = client_patterns("/pushrules/?")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, {"global": await self.hs.push_rules_handler.get_ruleset(requester.user_id)}


class GlobalPushRulesServlet(RestServlet):
    PATTERNS = client_patterns("/pushrules/global/?")
    GUEST_METHODS = frozenset({"GET"})

    async def on_GET(self, request: HomeserverRequest) -> tuple[int, Any]:
        requester = await self.auth(request)
        return 200, await self.hs.push_rules_handler.get_ruleset(requester.user_id)


class PushRuleServlet(RestServlet):
    PATTERNS = client_patterns(RULE)

    async def on_GET(self, request: HomeserverRequest, scope: str, kind: str, rule_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_scope(scope)
        return 200, await self.hs.push_rules_handler.get_rule(requester.user_id, kind, rule_id)

    async def on_PUT(self, request: HomeserverRequest, scope: str, kind: str, rule_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_scope(scope)
        body = parse_json_object(request, PUT_RULE_BODY)
        await self.hs.push_rules_handler.set_rule(
            requester.user_id, kind, rule_id, body, parse_string(request, "before"), parse_string(request, "after"))
        return 200, {}

    async def on_DELETE(self, request: HomeserverRequest, scope: str, kind: str, rule_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_scope(scope)
        await self.hs.push_rules_handler.delete_rule(requester.user_id, kind, rule_id)
        return 200, {}


class PushRuleEnabledServlet(RestServlet):
    PATTERNS = client_patterns(RULE + "/enabled")

    async def on_GET(self, request: HomeserverRequest, scope: str, kind: str, rule_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_scope(scope)
        return 200, {"enabled": await self.hs.push_rules_handler.get_enabled(requester.user_id, kind, rule_id)}

    async def on_PUT(self, request: HomeserverRequest, scope: str, kind: str, rule_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_scope(scope)
        body = parse_json_object(request, ENABLED_BODY)
        await self.hs.push_rules_handler.set_enabled(requester.user_id, kind, rule_id, body["enabled"])
        return 200, {}


class PushRuleActionsServlet(RestServlet):
    PATTERNS = client_patterns(RULE + "/actions")

    async def on_GET(self, request: HomeserverRequest, scope: str, kind: str, rule_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_scope(scope)
        return 200, {"actions": await self.hs.push_rules_handler.get_actions(requester.user_id, kind, rule_id)}

    async def on_PUT(self, request: HomeserverRequest, scope: str, kind: str, rule_id: str) -> tuple[int, Any]:
        requester = await self.auth(request)
        check_scope(scope)
        body = parse_json_object(request, ACTIONS_BODY)
        await self.hs.push_rules_handler.set_actions(requester.user_id, kind, rule_id, body["actions"])
        return 200, {}


def register_servlets(hs: Any, router: Any) -> None:
    for servlet in (PushRulesServlet, GlobalPushRulesServlet, PushRuleEnabledServlet, PushRuleActionsServlet,
                    PushRuleServlet):
        router.register(servlet(hs))
