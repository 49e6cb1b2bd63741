// Server-side key backup: alice sets up cross-signing, secret storage (4S) and a key backup the way
// Element's "set up recovery" does, receives and sends encrypted messages, and her keys get backed up.
// A NEW login of alice (fresh crypto store, nothing shared with the first device) cannot decrypt the
// old messages until it unlocks secret storage with the recovery key, loads the backup key from it and
// restores the backup; then both old messages decrypt.
import { decodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api/index.js";

import { check, passwordUia, recoveryKeyCallbacks, runScenario, waitUntil } from "../lib/harness.js";

const BACKUP_ALGORITHM = "m.megolm_backup.v1.curve25519-aes-sha2";

runScenario("key_backup", async (s) => {
    s.step("register alice and bob; alice's first device and bob log in and share an encrypted DM");
    const aliceUser = await s.registerUser("alice");
    const firstSecrets = {};
    const alice = await s.login(aliceUser, { label: "alice-1", cryptoCallbacks: recoveryKeyCallbacks(firstSecrets) });
    const bob = await s.login(await s.registerUser("bob"));
    const roomId = await s.createEncryptedRoom(alice, [bob], { direct: true });
    await s.acceptInvite(bob, roomId);
    await s.waitForJoined(alice, roomId, [bob.getUserId()]);

    s.step("alice sets up recovery: cross-signing, secret storage with a recovery key, a new key backup");
    const crypto = alice.getCrypto();
    await crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordUia(aliceUser) });
    const recoveryKey = await crypto.createRecoveryKeyFromPassphrase();
    await crypto.bootstrapSecretStorage({
        createSecretStorageKey: async () => recoveryKey,
        setupNewSecretStorage: true,
        setupNewKeyBackup: true,
    });
    check(await crypto.isSecretStorageReady(), "alice-1: isSecretStorageReady() is false after bootstrapSecretStorage");
    const version = await crypto.getActiveSessionBackupVersion();
    check(version, "alice-1: no active key backup version after bootstrapSecretStorage");

    s.step(`the server reports backup version ${version} as the current one`);
    const current = await s.api(alice, "GET", "/_matrix/client/v3/room_keys/version");
    check(current.status === 200 && current.body.version === version && current.body.algorithm === BACKUP_ALGORITHM,
        `GET room_keys/version -> HTTP ${current.status} ${JSON.stringify(current.body)}`);
    const trust = await crypto.isKeyBackupTrusted(current.body);
    check(trust.trusted && trust.matchesDecryptionKey, `alice-1 does not trust her own backup: ${JSON.stringify(trust)}`);

    s.step("bob and alice exchange encrypted messages; alice-1 decrypts bob's");
    const fromBob = await s.sendText(bob, roomId, "bob's message from before the new login");
    await s.expectDecrypted(alice, roomId, fromBob, "bob's message from before the new login");
    const fromAlice = await s.sendText(alice, roomId, "alice's message from before the new login");
    await s.expectDecrypted(bob, roomId, fromAlice, "alice's message from before the new login");

    s.step("alice-1 uploads both megolm sessions to the backup; the version's count and etag follow");
    await s.waitForBackedUpSessions(alice, version, roomId, 2);
    const after = await s.api(alice, "GET", `/_matrix/client/v3/room_keys/version/${encodeURIComponent(version)}`);
    check(after.status === 200 && after.body.count === 2 && typeof after.body.etag === "string"
        && typeof current.body.etag === "string" && after.body.etag !== current.body.etag,
        `room_keys/version/${version}: ${JSON.stringify(after.body)} (before the uploads: ${JSON.stringify(current.body)})`);

    s.step("alice logs in a new device that knows nothing but her recovery key");
    const newSecrets = {};
    const alice2 = await s.login(aliceUser, { label: "alice-2", cryptoCallbacks: recoveryKeyCallbacks(newSecrets) });
    check(alice2.getDeviceId() !== alice.getDeviceId(), "the new login reused the first device ID");
    for (const eventId of [fromBob, fromAlice]) {
        await waitUntil(
            `alice-2 to have ${eventId} in the timeline, not decryptable yet`,
            async (note) => {
                const event = alice2.getRoom(roomId)?.findEventById(eventId);
                if (event) await alice2.decryptEventIfNeeded(event);
                note(event ? `decryption failure: ${event.isDecryptionFailure()}, type ${event.getType()}` : "absent");
                check(!event || event.isBeingDecrypted() || event.isDecryptionFailure() || !event.getClearContent(),
                    `alice-2 decrypted ${eventId} before restoring the backup: the test proves nothing`);
                return event?.isDecryptionFailure();
            },
            [],
            undefined,
            { pollMs: 250 },
        );
    }

    s.step("alice-2 unlocks secret storage with the recovery key and restores the backup");
    const typed = decodeRecoveryKey(recoveryKey.encodedPrivateKey);
    newSecrets.privateKey = typed;
    const crypto2 = alice2.getCrypto();
    await crypto2.loadSessionBackupPrivateKeyFromSecretStorage();
    const restored = await crypto2.restoreKeyBackup();
    check(restored.imported >= 2, `restoreKeyBackup imported ${restored.imported} of ${restored.total} sessions`);

    s.step("both old messages now decrypt on alice-2");
    await s.expectDecrypted(alice2, roomId, fromBob, "bob's message from before the new login");
    await s.expectDecrypted(alice2, roomId, fromAlice, "alice's message from before the new login");
});
