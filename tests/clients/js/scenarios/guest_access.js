// Guest access through matrix-js-sdk's own calls (what Element does to preview a public room for
// someone without an account): registerGuest, setGuest, peekInRoom on a world-readable room, a
// guest's sync, join and message in a room that admits guests, a refused createRoom, and the
// upgrade to a full account (register with guest_access_token) keeping the user ID.
import { randomBytes } from "node:crypto";

import { createClient, Preset, RoomEvent } from "matrix-js-sdk";

import { check, describeError, runScenario, waitUntil } from "../lib/harness.js";

runScenario("guest_access", async (s) => {
    s.step("alice makes a public, world-readable room that admits guests, and talks in it");
    const alice = await s.login(await s.registerUser("alice"));
    const { room_id: roomId } = await alice.createRoom({
        preset: Preset.PublicChat,
        initial_state: [
            { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } },
            { type: "m.room.guest_access", state_key: "", content: { guest_access: "can_join" } },
        ],
    });
    const early = await alice.sendTextMessage(roomId, "before any guest");

    s.step("a guest registers");
    const anonymous = createClient({ baseUrl: s.baseUrl });
    const reg = await anonymous.registerGuest();
    check(/^@[0-9]+:/.test(reg.user_id) && reg.access_token && reg.device_id, `guest: ${JSON.stringify(reg)}`);
    const guest = createClient({
        baseUrl: s.baseUrl, userId: reg.user_id, deviceId: reg.device_id, accessToken: reg.access_token,
    });
    guest.setGuest(true);
    guest.scenarioLabel = "guest";
    s.clients.push(guest);
    const whoami = await guest.whoami();
    check(whoami.is_guest === true, `whoami: ${JSON.stringify(whoami)}`);

    s.step("the guest peeks into the room without joining");
    const peeked = await guest.peekInRoom(roomId);
    check(peeked.getLiveTimeline().getEvents().some((e) => e.getId() === early.event_id),
        "the peeked timeline has alice's message");
    guest.stopPeeking();

    s.step("the guest syncs, joins and talks");
    await s.startAndSync(guest);
    await guest.joinRoom(roomId);
    const sent = await guest.sendTextMessage(roomId, "hello from a guest");
    await waitUntil("alice sees the guest's message", () => Boolean(alice.getRoom(roomId)?.findEventById(sent.event_id)),
        [[alice, RoomEvent.Timeline]]);

    s.step("the guest may not create a room");
    try {
        await guest.createRoom({});
        check(false, "a guest created a room");
    } catch (err) {
        check(err.errcode === "M_GUEST_ACCESS_FORBIDDEN", `createRoom as a guest: ${describeError(err)}`);
    }

    s.step("the guest registers a full account, keeping its user ID");
    const localpart = reg.user_id.slice(1).split(":")[0];
    const password = `pw-${randomBytes(12).toString("hex")}`;
    const body = { username: localpart, password, guest_access_token: reg.access_token, inhibit_login: true };
    let session;
    try {
        await anonymous.registerRequest(body);
        check(false, "the upgrade succeeded without user-interactive auth");
    } catch (err) {
        check(err.httpStatus === 401 && err.data?.session, `upgrade: expected a UIA 401, got ${describeError(err)}`);
        session = err.data.session;
    }
    const upgraded = await anonymous.registerRequest({ ...body, auth: { type: "m.login.dummy", session } });
    check(upgraded.user_id === reg.user_id, `upgraded to ${upgraded.user_id}, not ${reg.user_id}`);

    s.step("logged in with the password, the former guest is in the room and may create rooms");
    const member = await s.login({ name: "former-guest", localpart, password });
    check((await member.whoami()).is_guest === false, "whoami still says guest");
    check(member.getRoom(roomId)?.getMyMembership() === "join", "the room the guest joined is still joined");
    const { room_id: own } = await member.createRoom({});
    check(own, "createRoom after the upgrade");
});
