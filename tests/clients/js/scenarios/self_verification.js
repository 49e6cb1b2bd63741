// "Verify with another device", as in Element: alice's first device has cross-signing, secret storage
// and a key backup. She logs in a second device, which asks her other devices to verify it (to-device
// verification messages); the first device accepts and both confirm the SAS emoji. The new device is
// then cross-signed, receives the private cross-signing keys and the backup key by secret sharing
// (encrypted to-device m.secret.request / m.secret.send), and decrypts a message from before it existed.
import { runScenario, check, passwordUia, recoveryKeyCallbacks, waitUntil } from "../lib/harness.js";
import { verifyOwnDeviceWithSas } from "../lib/verification.js";

runScenario("self_verification", async (s) => {
    s.step("alice-1 and bob share an encrypted DM; alice-1 sets up cross-signing, secret storage and backup");
    const aliceUser = await s.registerUser("alice");
    const alice1 = await s.login(aliceUser, { label: "alice-1", cryptoCallbacks: recoveryKeyCallbacks({}) });
    const bob = await s.login(await s.registerUser("bob"));
    const aliceId = alice1.getUserId();
    const roomId = await s.createEncryptedRoom(alice1, [bob], { direct: true });
    await s.acceptInvite(bob, roomId);
    await s.waitForJoined(alice1, roomId, [bob.getUserId()]);
    const crypto1 = alice1.getCrypto();
    await crypto1.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(aliceUser) });
    const recoveryKey = await crypto1.createRecoveryKeyFromPassphrase();
    await crypto1.bootstrapSecretStorage({
        createSecretStorageKey: async () => recoveryKey,
        setupNewSecretStorage: true,
        setupNewKeyBackup: true,
    });

    s.step("bob sends a message that alice-1 decrypts and backs up on the server");
    const body = "from before alice's second device existed";
    const old = await s.sendText(bob, roomId, body);
    await s.expectDecrypted(alice1, roomId, old, body);
    await s.waitForBackedUpSessions(alice1, await crypto1.getActiveSessionBackupVersion(), roomId, 1);

    s.step("alice logs in a second device (which does not know the recovery key); alice-1 sees it");
    const alice2 = await s.login(aliceUser, { label: "alice-2", cryptoCallbacks: recoveryKeyCallbacks({}) });
    const crypto2 = alice2.getCrypto();
    await s.waitForDeviceList(alice1, aliceId, [alice1.getDeviceId(), alice2.getDeviceId()]);
    // The new device needs its own user's public cross-signing keys to verify against.
    check(await crypto2.userHasCrossSigningKeys(), "alice-2: the server returned no cross-signing keys for alice");

    s.step("alice-2 requests verification from her other devices; alice-1 accepts; SAS emoji match");
    await verifyOwnDeviceWithSas(alice2, alice1);

    s.step("alice-2 receives the cross-signing keys and the backup key by secret sharing");
    await waitUntil(
        "alice-2's cross-signing to be ready (private keys received from alice-1)",
        async (note) => {
            const status = await crypto2.getCrossSigningStatus();
            note(JSON.stringify(status));
            return crypto2.isCrossSigningReady();
        },
        [], undefined, { pollMs: 250 },
    );
    await waitUntil(
        "alice-2 to hold the key backup decryption key (received from alice-1)",
        async () => (await crypto2.getSessionBackupPrivateKey()) !== null,
        [], undefined, { pollMs: 250 },
    );

    s.step("alice-1 and bob see alice-2 as cross-signed by alice");
    for (const observer of [alice1, bob]) {
        await waitUntil(
            `${observer.scenarioLabel} to see alice-2 signed by alice's self-signing key`,
            async (note) => {
                const status = await observer.getCrypto().getDeviceVerificationStatus(aliceId, alice2.getDeviceId());
                note(JSON.stringify(status));
                return status?.signedByOwner;
            },
            [], undefined, { pollMs: 250 },
        );
    }

    s.step("alice-2 decrypts the old message: its key comes from the backup");
    await crypto2.checkKeyBackupAndEnable();
    await s.expectDecrypted(alice2, roomId, old, body, 60_000);
});
