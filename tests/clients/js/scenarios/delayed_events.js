// Delayed events (MSC4140) through matrix-js-sdk's own calls, the way Element Call uses them, across a
// restart of the server: run as
//   node scenarios/delayed_events.js BASE_URL schedule STATE_FILE
//   (the test kills the server, waits until the short delay is overdue, starts it again)
//   node scenarios/delayed_events.js BASE_URL after_restart STATE_FILE
// Phase "schedule" schedules a delayed "left the call" membership (due in a few seconds), a long one
// and a delayed message, checks the too-long-delay reply and a restart by path; phase "after_restart"
// sees the overdue one sent exactly once, restarts the long one without a token (as lk-jwt-service
// does), cancels it, sends the message now, and cancels one through the older body form.
import { readFileSync, writeFileSync } from "node:fs";

import { createClient, Preset, RoomStateEvent } from "matrix-js-sdk";

import { check, describeError, runScenario, waitUntil } from "../lib/harness.js";

const CALL_MEMBER = "org.matrix.msc3401.call.member";
const MSC4140 = "org.matrix.msc4140";
const SHORT_DELAY_MS = 4000;
const LONG_DELAY_MS = 600_000;
const DAY_MS = 24 * 3600 * 1000;
const DELAYED = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events";

const phase = process.argv[3];
const stateFile = process.argv[4];

function callKey(client) {
    return `_${client.getUserId()}_${client.getDeviceId()}_m.call`;
}

async function listed(s, client) {
    const { status, body } = await s.api(client, "GET", DELAYED);
    check(status === 200, `GET delayed_events -> HTTP ${status} ${JSON.stringify(body)}`);
    return body.delayed_events;
}

/** A started client for credentials saved by the first phase (no crypto: nothing here is encrypted). */
async function resume(s, saved, label) {
    const client = createClient({
        baseUrl: s.baseUrl, userId: saved.userId, deviceId: saved.deviceId, accessToken: saved.accessToken,
    });
    client.scenarioLabel = label;
    s.clients.push(client);
    await s.startAndSync(client);
    return client;
}

async function schedule(s) {
    s.step("alice and bob register; alice makes a room where members may set call memberships; bob joins");
    const aliceUser = await s.registerUser("alice");
    const bobUser = await s.registerUser("bob");
    const alice = await s.login(aliceUser);
    const bob = await s.login(bobUser);
    const { room_id: roomId } = await alice.createRoom({
        preset: Preset.PublicChat,
        power_level_content_override: { events: { [CALL_MEMBER]: 0 } },
    });
    await bob.joinRoom(roomId);

    s.step("the server advertises delayed events");
    check(await alice.doesServerSupportUnstableFeature(MSC4140), "/versions lacks org.matrix.msc4140");

    s.step("alice joins the call and schedules her delayed leave (Element Call's first two steps)");
    const key = callKey(alice);
    const leave = await alice._unstable_sendDelayedStateEvent(roomId, { delay: SHORT_DELAY_MS }, CALL_MEMBER, {}, key);
    check(typeof leave.delay_id === "string" && !("event_id" in leave), `delayed state: ${JSON.stringify(leave)}`);
    await alice.sendStateEvent(roomId, CALL_MEMBER, { application: "m.call", call_id: "", scope: "m.room",
        device_id: alice.getDeviceId(), expires: 14_400_000 }, key);

    s.step("a delay over the server's maximum gets the reply js-sdk retries with the maximum");
    try {
        await alice._unstable_sendDelayedStateEvent(roomId, { delay: DAY_MS + 1 }, CALL_MEMBER, {}, `${key}_x`);
        check(false, "a delay of more than a day was accepted");
    } catch (err) {
        check(err.httpStatus === 400 && err.errcode === "M_UNKNOWN"
            && err.data?.[`${MSC4140}.errcode`] === "M_MAX_DELAY_EXCEEDED"
            && err.data?.[`${MSC4140}.max_delay`] === DAY_MS, `too long a delay: ${describeError(err)}`);
    }

    s.step("a long delayed state event and a delayed message; restart one by path");
    const long = await alice._unstable_sendDelayedStateEvent(
        roomId, { delay: LONG_DELAY_MS }, CALL_MEMBER, {}, `_${alice.getUserId()}_OTHER_m.call`);
    const message = await alice._unstable_sendDelayedEvent(roomId, { delay: LONG_DELAY_MS }, null, "m.room.message",
        { msgtype: "m.text", body: "sent by the delayed events API" });
    check(typeof message.delay_id === "string", `delayed message: ${JSON.stringify(message)}`);
    await alice._unstable_restartScheduledDelayedEvent(leave.delay_id);
    const scheduled = await listed(s, alice);
    check(scheduled.length === 3, `listed: ${JSON.stringify(scheduled)}`);
    const short = scheduled.find((e) => e.delay_id === leave.delay_id);
    check(short && short.state_key === key && short.delay === SHORT_DELAY_MS, `listed: ${JSON.stringify(scheduled)}`);

    const save = (c) => ({ userId: c.getUserId(), deviceId: c.getDeviceId(), accessToken: c.getAccessToken() });
    writeFileSync(stateFile, JSON.stringify({
        roomId, key, alice: save(alice), bob: save(bob),
        shortId: leave.delay_id, longId: long.delay_id, messageId: message.delay_id,
        shortDueMs: short.running_since + short.delay,
    }));
}

async function afterRestart(s) {
    const saved = JSON.parse(readFileSync(stateFile, "utf-8"));
    const { roomId, key, shortId, longId, messageId } = saved;
    const alice = await resume(s, saved.alice, "alice");
    const bob = await resume(s, saved.bob, "bob");

    s.step("the leave that fell due while the server was down was sent at start-up, as alice's device");
    await waitUntil("bob to see alice's call membership emptied", (note) => {
        const event = bob.getRoom(roomId)?.currentState.getStateEvents(CALL_MEMBER, key);
        note(JSON.stringify(event?.getContent()));
        return event && Object.keys(event.getContent()).length === 0;
    }, [[bob, RoomStateEvent.Events]], 30_000, { pollMs: 500 });
    const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=100`;
    const { status, body } = await s.api(alice, "GET", path);
    check(status === 200, `GET messages -> ${status}`);
    const leaves = body.chunk.filter((e) => e.type === CALL_MEMBER && e.state_key === key
        && Object.keys(e.content).length === 0);
    check(leaves.length === 1, `${leaves.length} leave events, expected exactly one`);
    check(leaves[0].sender === alice.getUserId(), `sent by ${leaves[0].sender}`);
    check(leaves[0].unsigned?.[`${MSC4140}.delay_id`] === shortId, `alice's copy: ${JSON.stringify(leaves[0])}`);
    const bobsView = await s.api(bob, "GET", path);
    const bobsLeave = bobsView.body.chunk.find((e) => e.event_id === leaves[0].event_id);
    check(bobsLeave && !(`${MSC4140}.delay_id` in (bobsLeave.unsigned || {})), "bob sees alice's delay ID");

    s.step("the others survived the restart");
    const left = (await listed(s, alice)).map((e) => e.delay_id).sort();
    check(JSON.stringify(left) === JSON.stringify([longId, messageId].sort()), `listed: ${JSON.stringify(left)}`);

    s.step("restart without an access token, as lk-jwt-service does; then alice cancels");
    const resp = await fetch(`${s.baseUrl}${DELAYED}/${encodeURIComponent(longId)}/restart`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: "{}",
    });
    check(resp.status === 200, `token-less restart -> HTTP ${resp.status} ${await resp.text()}`);
    await alice._unstable_cancelScheduledDelayedEvent(longId);
    try {
        await alice._unstable_cancelScheduledDelayedEvent(longId);
        check(false, "cancelled twice");
    } catch (err) {
        check(err.httpStatus === 404 && err.errcode === "M_NOT_FOUND", `second cancel: ${describeError(err)}`);
    }

    s.step("alice sends the delayed message now; bob receives it");
    await alice._unstable_sendScheduledDelayedEvent(messageId);
    await waitUntil("bob to receive the message", () => bob.getRoom(roomId)?.getLiveTimeline().getEvents()
        .some((e) => e.getType() === "m.room.message" && e.getContent().body === "sent by the delayed events API"),
    [[bob, RoomStateEvent.Events], [bob, "Room.timeline"]], 30_000, { pollMs: 500 });

    s.step("the older form (action in the body) through js-sdk's deprecated call");
    const another = await alice._unstable_sendDelayedStateEvent(roomId, { delay: LONG_DELAY_MS }, CALL_MEMBER, {}, key);
    await alice._unstable_updateDelayedEvent(another.delay_id, "cancel");
    const after = await listed(s, alice);
    check(after.length === 0, `still scheduled: ${JSON.stringify(after)}`);
}

runScenario("delayed_events", async (s) => {
    check(stateFile, "usage: node scenarios/delayed_events.js BASE_URL schedule|after_restart STATE_FILE");
    if (phase === "schedule") {
        await schedule(s);
    } else if (phase === "after_restart") {
        await afterRestart(s);
    } else {
        check(false, `unknown phase ${phase}`);
    }
});
