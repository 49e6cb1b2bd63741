// One-time keys running out: a third party claims all of bob's one-time keys, so the server must hand
// out his fallback key (marked "fallback": true, and not used up). alice, who never had an Olm
// session with bob, then sends him an encrypted message: her SDK claims a key for bob's device and
// starts an Olm session on what the server gives (the fallback key, unless bob's client has already
// uploaded fresh one-time keys); bob decrypts, and his client tops his one-time keys up again.
import { check, runScenario, waitUntil } from "../lib/harness.js";

const ALGORITHM = "signed_curve25519";
const MAX_CLAIMS = 500;

/** Claim one key of bob's device as `claimer`; returns the claimed key object (or undefined). */
async function claimOne(s, claimer, userId, deviceId) {
    const { status, body } = await s.api(claimer, "POST", "/_matrix/client/v3/keys/claim",
        { one_time_keys: { [userId]: { [deviceId]: ALGORITHM } } });
    check(status === 200, `POST keys/claim -> HTTP ${status} ${JSON.stringify(body)}`);
    const keys = body.one_time_keys?.[userId]?.[deviceId] || {};
    const [keyId] = Object.keys(keys);
    return keyId ? { keyId, key: keys[keyId] } : undefined;
}

runScenario("fallback_keys", async (s) => {
    s.step("alice and bob share an encrypted DM, with no message yet (no Olm session between them)");
    const alice = await s.login(await s.registerUser("alice"));
    const bob = await s.login(await s.registerUser("bob"));
    const carol = await s.login(await s.registerUser("carol"));
    const [bobId, bobDevice] = [bob.getUserId(), bob.getDeviceId()];
    const roomId = await s.createEncryptedRoom(alice, [bob], { direct: true });
    await s.acceptInvite(bob, roomId);
    await s.waitForJoined(alice, roomId, [bobId]);
    await s.waitForDeviceList(alice, bobId, [bobDevice]);

    s.step("carol claims bob's one-time keys until the server answers with his fallback key");
    let fallback;
    for (let i = 0; i < MAX_CLAIMS && !fallback; i++) {
        const claimed = await claimOne(s, carol, bobId, bobDevice);
        check(claimed, `claim ${i + 1} returned no key for bob's device, though his client uploaded a fallback key`);
        if (claimed.key.fallback === true) fallback = claimed;
    }
    check(fallback, `still one-time keys after ${MAX_CLAIMS} claims`);
    check(fallback.keyId.startsWith(`${ALGORITHM}:`), `unexpected fallback key ID ${fallback.keyId}`);
    const again = await claimOne(s, carol, bobId, bobDevice);
    check(again && (again.key.fallback !== true || again.keyId === fallback.keyId),
        `a second claim returned another fallback key: ${JSON.stringify(again)} after ${JSON.stringify(fallback)}`);

    s.step("alice's first message to bob decrypts on his side");
    const eventId = await s.sendText(alice, roomId, "olm session on whatever key the server had left");
    await s.expectDecrypted(bob, roomId, eventId, "olm session on whatever key the server had left");

    s.step("bob's client replaces its one-time keys: claims return one-time keys again");
    await waitUntil(
        "a claim to return one of bob's new one-time keys",
        async (note) => {
            const claimed = await claimOne(s, carol, bobId, bobDevice);
            note(JSON.stringify(claimed));
            return claimed && claimed.key.fallback !== true;
        },
        [], undefined, { pollMs: 500 },
    );
});
