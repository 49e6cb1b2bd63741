// Simplified sliding sync (MSC4186) through matrix-js-sdk 43's own SlidingSync class (the one
// Element Web's sliding sync mode uses), driving POST .../org.matrix.simplified_msc3575/sync with
// its pos/timeout query parameters: /versions advertises the flag; a list window of 2 over bob's 3
// rooms comes back with its count, named rooms and the newest on top; a new message in the oldest
// room lifts it into the window with the message (long-poll woken); a room subscription brings the
// whole state and a longer timeline.
import { SlidingSync, SlidingSyncEvent, SlidingSyncState } from "matrix-js-sdk/lib/sliding-sync.js";
import { createClient } from "matrix-js-sdk";

import { check, runScenario, waitUntil } from "../lib/harness.js";

runScenario("sliding_sync", async (s) => {
    s.step("alice logs in; /versions advertises simplified sliding sync");
    const alice = await s.login(await s.registerUser("alice"));
    const versions = await alice.getVersions();
    check(versions.unstable_features?.["org.matrix.simplified_msc3575"] === true,
        `/versions lacks org.matrix.simplified_msc3575: ${JSON.stringify(versions)}`);

    s.step("bob joins three of alice's rooms (bob's client never runs /sync)");
    const bobUser = await s.registerUser("bob");
    const anonymous = createClient({ baseUrl: s.baseUrl });
    const session = await anonymous.loginRequest({
        type: "m.login.password", identifier: { type: "m.id.user", user: bobUser.localpart }, password: bobUser.password,
    });
    const bob = createClient({ baseUrl: s.baseUrl, userId: session.user_id, deviceId: session.device_id,
        accessToken: session.access_token });
    const rooms = [];
    for (const name of ["First", "Second", "Third"]) {
        const { room_id: roomId } = await alice.createRoom({ name, invite: [bob.getUserId()] });
        await bob.joinRoom(roomId);
        rooms.push(roomId);
    }

    s.step("bob's SlidingSync: a window of 2 over his rooms, newest first, with names");
    const sliding = new SlidingSync(s.baseUrl, new Map([["all", {
        ranges: [[0, 1]], timeline_limit: 1,
        required_state: [["m.room.name", ""], ["m.room.member", "$ME"]],
    }]]), { timeline_limit: 10, required_state: [["*", "*"]] }, bob, 5000);
    const roomData = new Map();  // room ID -> every RoomData received
    const responses = [];
    sliding.on(SlidingSyncEvent.RoomData, (roomId, data) => {
        roomData.set(roomId, [...(roomData.get(roomId) || []), data]);
    });
    sliding.on(SlidingSyncEvent.Lifecycle, (state, resp, err) => {
        if (err) console.log(`sliding sync error: ${err}`);
        if (state === SlidingSyncState.Complete && resp) responses.push(resp);
    });
    const trigger = [[sliding, SlidingSyncEvent.Lifecycle]];
    sliding.start();
    try {
        await waitUntil("the first sliding sync answer", () => responses.length > 0, trigger);
        const first = responses[0];
        check(first.lists.all.count === 3, `count: ${JSON.stringify(first.lists)}`);
        const window = first.lists.all.ops?.[0]?.room_ids;
        check(JSON.stringify(window) === JSON.stringify([rooms[2], rooms[1]]), `window: ${JSON.stringify(window)}`);
        check(roomData.get(rooms[2])?.[0]?.name === "Third" && roomData.get(rooms[2])[0].initial === true,
            `Third: ${JSON.stringify(roomData.get(rooms[2]))}`);
        check(!roomData.has(rooms[0]), "First is outside the window");
        check(typeof first.pos === "string", `pos: ${first.pos}`);

        s.step("a message in the oldest room lifts it into the window, message and all");
        const { event_id: eventId } = await alice.sendTextMessage(rooms[0], "hello sliding");
        await waitUntil("First in bob's window", () => {
            const last = responses[responses.length - 1];
            return last.lists.all?.ops?.[0]?.room_ids?.[0] === rooms[0];
        }, trigger);
        const firstData = roomData.get(rooms[0]) || [];
        const timeline = firstData.flatMap((d) => d.timeline || []);
        check(timeline.some((e) => e.event_id === eventId && e.content.body === "hello sliding"),
            `First's data: ${JSON.stringify(firstData)}`);

        s.step("a room subscription brings the whole state and a longer timeline");
        const before = (roomData.get(rooms[1]) || []).length;
        sliding.modifyRoomSubscriptions(new Set([rooms[1]]));
        await waitUntil("Second's subscription data", () => (roomData.get(rooms[1]) || []).length > before, trigger);
        const sub = roomData.get(rooms[1])[before];
        const types = new Set((sub.required_state || []).map((e) => e.type));
        check(types.has("m.room.create") && types.has("m.room.power_levels") && types.has("m.room.join_rules"),
            `Second's subscription state: ${JSON.stringify([...types])}`);
        check((sub.timeline || []).length > 1 && sub.unstable_expanded_timeline === true,
            `Second's subscription timeline: ${JSON.stringify(sub)}`);
    } finally {
        sliding.stop();
        bob.stopClient();
    }
});
