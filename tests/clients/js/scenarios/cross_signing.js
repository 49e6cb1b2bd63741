// Cross-signing: alice bootstraps her keys (and later replaces them, which needs UIA with her password);
// bob, who shares an encrypted DM with her, sees her master key and her cross-signed device through
// /sync device_lists + /keys/query. Then bob and alice verify each other with SAS emoji, after which each
// sees the other as cross-signing verified and the server returns bob's signature on alice's master key.
import { CrossSigningKey, CryptoEvent } from "matrix-js-sdk/lib/crypto-api/index.js";

import { check, passwordUia, runScenario, waitUntil } from "../lib/harness.js";
import { verifyUsersWithSas } from "../lib/verification.js";

/** The crypto events after which an observer's view of another user's identity may have changed. */
function identityTriggers(client) {
    return [
        [client, CryptoEvent.UserTrustStatusChanged],
        [client, CryptoEvent.DevicesUpdated],
        [client, CryptoEvent.KeysChanged],
    ];
}

function onlyKey(crossSigningKey) {
    return crossSigningKey ? Object.values(crossSigningKey.keys || {})[0] : undefined;
}

/** Wait until `observer` has `userId`'s identity with master key `masterKey` in its crypto store. */
async function waitForMasterKey(observer, userId, masterKey) {
    await waitUntil(
        `${observer.scenarioLabel} to see ${userId}'s master key ${masterKey}`,
        async (note) => {
            const keys = await observer.getCrypto().getUserCrossSigningKeys(userId);
            note(`master key ${onlyKey(keys?.master_key)}`);
            return onlyKey(keys?.master_key) === masterKey;
        },
        identityTriggers(observer),
    );
}

runScenario("cross_signing", async (s) => {
    s.step("register and log in alice and bob; alice opens an encrypted DM with bob");
    const aliceUser = await s.registerUser("alice");
    const bobUser = await s.registerUser("bob");
    const alice = await s.login(aliceUser);
    const bob = await s.login(bobUser);
    const [aliceId, bobId] = [alice.getUserId(), bob.getUserId()];
    const roomId = await s.createEncryptedRoom(alice, [bob], { direct: true });
    await s.acceptInvite(bob, roomId);
    await s.waitForJoined(alice, roomId, [bobId]);

    s.step("alice bootstraps cross-signing (UIA with her password if the server asks)");
    await alice.getCrypto().bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(aliceUser) });
    check(await alice.getCrypto().isCrossSigningReady(), "alice: isCrossSigningReady() is false after bootstrap");
    const firstMaster = await alice.getCrypto().getCrossSigningKeyId();
    check(firstMaster, "alice has no master key ID after bootstrapping");

    s.step("bob learns alice's master key");
    await waitForMasterKey(bob, aliceId, firstMaster);
    check(await bob.getCrypto().userHasCrossSigningKeys(aliceId), "bob: userHasCrossSigningKeys(alice) is false");

    s.step("alice replaces her cross-signing keys: the server must demand UIA, her password satisfies it");
    await s.settleDeviceLists(alice, [aliceId]);
    const uia = {};
    await alice.getCrypto().bootstrapCrossSigning({
        setupNewCrossSigning: true,
        authUploadDeviceSigningKeys: passwordUia(aliceUser, uia),
    });
    check(uia.challenged, "replacing existing cross-signing keys succeeded without UIA; the spec requires it");
    const newMaster = await alice.getCrypto().getCrossSigningKeyId();
    check(newMaster && newMaster !== firstMaster, `alice's master key did not change (${firstMaster} -> ${newMaster})`);

    s.step("bob sees alice's new master key, and her device signed by her new self-signing key");
    await waitForMasterKey(bob, aliceId, newMaster);
    await waitUntil(
        "bob to see alice's device as signed by its owner",
        async (note) => {
            const status = await bob.getCrypto().getDeviceVerificationStatus(aliceId, alice.getDeviceId());
            note(JSON.stringify(status));
            return status?.signedByOwner;
        },
        identityTriggers(bob),
    );
    const before = await bob.getCrypto().getUserVerificationStatus(aliceId);
    check(before.known && !before.isCrossSigningVerified(),
        `before verification bob should know alice's identity but not have verified it: ${JSON.stringify(before)}`);

    s.step("bob bootstraps cross-signing too; alice sees his master key");
    await bob.getCrypto().bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(bobUser) });
    await waitForMasterKey(alice, bobId, await bob.getCrypto().getCrossSigningKeyId());

    s.step("bob verifies alice with SAS emoji in their DM");
    await verifyUsersWithSas(bob, alice, roomId);

    s.step("each now sees the other as cross-signing verified");
    for (const [observer, subject] of [[bob, aliceId], [alice, bobId]]) {
        await waitUntil(
            `${observer.scenarioLabel} to see ${subject} as cross-signing verified`,
            async (note) => {
                const status = await observer.getCrypto().getUserVerificationStatus(subject);
                note(JSON.stringify(status));
                return status.isCrossSigningVerified();
            },
            identityTriggers(observer),
        );
    }

    s.step("bob's /keys/query returns his user-signing key's signature on alice's master key");
    const bobUsk = await bob.getCrypto().getCrossSigningKeyId(CrossSigningKey.UserSigning);
    check(bobUsk, "bob has no user-signing key ID");
    await waitUntil(
        "the server to return bob's signature on alice's master key",
        async (note) => {
            const { status, body } = await s.api(bob, "POST", "/_matrix/client/v3/keys/query",
                { device_keys: { [aliceId]: [] } });
            const signatures = body?.master_keys?.[aliceId]?.signatures?.[bobId] || {};
            note(`HTTP ${status}, bob's signatures ${JSON.stringify(signatures)}, his user-signing key ${bobUsk}`);
            return status === 200 && signatures[`ed25519:${bobUsk}`];
        },
        [],
        undefined,
        { pollMs: 250 },
    );
});
