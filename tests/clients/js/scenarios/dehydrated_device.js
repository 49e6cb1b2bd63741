// Dehydrated devices (MSC3814): alice sets up cross-signing and secret storage, then device
// dehydration. While she has no device logged in, bob's message key goes to her dehydrated device
// (to-device, stored by the server). A new login that unlocks secret storage with her recovery key
// rehydrates that device, receives the stored room key and decrypts the message; no key backup exists.
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/index.js";

import { check, passwordUia, recoveryKeyCallbacks, runScenario } from "../lib/harness.js";

const DEHYDRATED_DEVICE_PATH = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";

runScenario("dehydrated_device", async (s) => {
    s.step("alice (first device) and bob share an encrypted DM");
    const aliceUser = await s.registerUser("alice");
    const secrets = {};
    const alice1 = await s.login(aliceUser, { label: "alice-1", cryptoCallbacks: recoveryKeyCallbacks(secrets) });
    const bob = await s.login(await s.registerUser("bob"));
    const aliceId = alice1.getUserId();
    const roomId = await s.createEncryptedRoom(alice1, [bob], { direct: true });
    await s.acceptInvite(bob, roomId);
    await s.waitForJoined(alice1, roomId, [bob.getUserId()]);

    s.step("alice-1 sets up cross-signing and secret storage (no key backup)");
    const crypto1 = alice1.getCrypto();
    await crypto1.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(aliceUser) });
    const recoveryKey = await crypto1.createRecoveryKeyFromPassphrase();
    await crypto1.bootstrapSecretStorage({ createSecretStorageKey: async () => recoveryKey, setupNewSecretStorage: true });
    check(!(await crypto1.getKeyBackupInfo()), "a key backup exists; this scenario must not rely on one");

    s.step("the server supports dehydration; alice-1 creates and uploads a dehydrated device");
    check(await crypto1.isDehydrationSupported(), "isDehydrationSupported() is false (GET dehydrated_device must "
        + "answer 200 or 404 M_NOT_FOUND)");
    await crypto1.startDehydration({ createNewKey: true });
    const stored = await s.api(alice1, "GET", DEHYDRATED_DEVICE_PATH);
    check(stored.status === 200 && stored.body.device_id && stored.body.device_data,
        `GET dehydrated_device -> HTTP ${stored.status} ${JSON.stringify(stored.body)}`);
    const dehydratedId = stored.body.device_id;
    await s.waitForDeviceList(bob, aliceId, [alice1.getDeviceId(), dehydratedId]);

    s.step("alice-1 logs out: bob sees only her dehydrated device");
    alice1.stopClient();
    await alice1.logout(true);
    await s.waitForDeviceList(bob, aliceId, [dehydratedId]);

    s.step("bob sends a message while alice is away (its key goes to the dehydrated device)");
    const body = "sent while alice had no device online";
    const eventId = await s.sendText(bob, roomId, body);

    s.step("alice logs in again, unlocks secret storage with her recovery key and rehydrates the device");
    const alice2 = await s.login(aliceUser, { label: "alice-2", cryptoCallbacks: recoveryKeyCallbacks(secrets) });
    const crypto2 = alice2.getCrypto();
    // As Element's "verify with recovery key": the cross-signing keys come out of secret storage and
    // sign this device. Dehydration needs cross-signing to be ready.
    // userHasCrossSigningKeys() fetches our own public keys first, which the import is checked against.
    check(await crypto2.userHasCrossSigningKeys(), "alice-2: the server returned no cross-signing keys for her");
    await crypto2.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(aliceUser) });
    check(await crypto2.isCrossSigningReady(), "alice-2: cross-signing not ready after loading it from secret storage");
    let roomKeys = 0;
    let rehydrationError = null;
    let completed = false;
    alice2.on(CryptoEvent.RehydrationProgress, (keys) => {
        roomKeys = keys;
    });
    alice2.on(CryptoEvent.RehydrationError, (message) => {
        rehydrationError = message;
    });
    alice2.on(CryptoEvent.RehydrationCompleted, () => {
        completed = true;
    });
    await crypto2.startDehydration();
    check(!rehydrationError, `rehydration failed: ${rehydrationError}`);
    check(completed, "startDehydration() finished without rehydrating a device");
    check(roomKeys >= 1, `the rehydrated device received ${roomKeys} room keys`);

    s.step("the message decrypts on alice-2, and a fresh dehydrated device replaced the old one");
    await s.expectDecrypted(alice2, roomId, eventId, body);
    const replaced = await s.api(alice2, "GET", DEHYDRATED_DEVICE_PATH);
    check(replaced.status === 200 && replaced.body.device_id && replaced.body.device_id !== dehydratedId,
        `after rehydration GET dehydrated_device -> HTTP ${replaced.status} ${JSON.stringify(replaced.body)}`);
});
