// The server side of MatrixRTC (Element Call) through matrix-js-sdk's own calls and the requests
// lk-jwt-service makes: /versions flags, the RTC transports the started client caches
// (cachedRtcTransports, from /rtc/transports), the legacy rtc_foci in /.well-known/matrix/client
// with CORS, getRoomSummary (which takes the stable path only because of org.matrix.msc3266) for a
// knock room before and after knocking, and an OpenID token checked at the federation userinfo
// path on a server with federation off and only a client listener.
import { check, runScenario } from "../lib/harness.js";

const TRANSPORTS = JSON.parse(process.env.RTC_TRANSPORTS || "[]");

runScenario("matrixrtc_server", async (s) => {
    s.step("alice logs in; /versions carries the flags Element Call and js-sdk look for");
    const alice = await s.login(await s.registerUser("alice"));
    const versions = await alice.getVersions();
    for (const flag of ["org.matrix.msc4143", "org.matrix.msc3266", "org.matrix.msc4222"]) {
        check(versions.unstable_features?.[flag] === true, `/versions lacks ${flag}: ${JSON.stringify(versions)}`);
    }

    s.step("the started client caches the server's RTC transports");
    const cached = await alice.cachedRtcTransports.wait();
    check(JSON.stringify(cached) === JSON.stringify(TRANSPORTS), `cached transports: ${JSON.stringify(cached)}`);
    const fresh = await alice._unstable_getRTCTransports();
    check(JSON.stringify(fresh) === JSON.stringify(TRANSPORTS), `transports: ${JSON.stringify(fresh)}`);

    s.step("the client well-known announces them as rtc_foci, readable from another origin");
    const wk = await fetch(`${s.baseUrl}/.well-known/matrix/client`, { headers: { Origin: "https://call.example.com" } });
    check(wk.status === 200 && wk.headers.get("access-control-allow-origin") === "*",
        `well-known: HTTP ${wk.status}, ACAO ${wk.headers.get("access-control-allow-origin")}`);
    const wkBody = await wk.json();
    check(JSON.stringify(wkBody["org.matrix.msc4143.rtc_foci"]) === JSON.stringify(TRANSPORTS),
        `well-known: ${JSON.stringify(wkBody)}`);

    s.step("bob previews alice's knock room, knocks, and previews it again");
    const { room_id: roomId } = await alice.createRoom({
        name: "Knock here",
        initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }],
    });
    const bob = await s.login(await s.registerUser("bob"));
    const before = await bob.getRoomSummary(roomId, ["localhost"]);
    check(before.room_id === roomId && before.join_rule === "knock" && before.name === "Knock here"
        && before.membership === undefined && typeof before.room_version === "string",
        `summary before knocking: ${JSON.stringify(before)}`);
    await bob.knockRoom(roomId);
    const after = await bob.getRoomSummary(roomId);
    check(after.membership === "knock", `summary after knocking: ${JSON.stringify(after)}`);

    s.step("lk-jwt-service's check: an OpenID token exchanged at the federation userinfo path");
    const openid = await alice.getOpenIdToken();
    check(openid.matrix_server_name === "localhost" && openid.token_type === "Bearer", JSON.stringify(openid));
    const info = await fetch(
        `${s.baseUrl}/_matrix/federation/v1/openid/userinfo?access_token=${encodeURIComponent(openid.access_token)}`);
    const infoBody = await info.json();
    check(info.status === 200 && infoBody.sub === alice.getUserId(), `userinfo: HTTP ${info.status} ${JSON.stringify(infoBody)}`);
    const bad = await fetch(`${s.baseUrl}/_matrix/federation/v1/openid/userinfo?access_token=${alice.getAccessToken()}`);
    check(bad.status === 401, `userinfo with an access token: HTTP ${bad.status}`);
});
