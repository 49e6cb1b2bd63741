// Encrypted DMs across servers (argv: our server, another of ours, Synapse): alice on the first
// server opens an encrypted DM with bob on the second, then with sam on Synapse; each message
// decrypts on the other side, in both directions.
import { runScenario } from "../lib/harness.js";

runScenario("encrypted_dm_federated", async (s) => {
    const [secondUrl, synapseUrl] = s.otherBaseUrls;
    s.step("register and log in alice (first server), bob (second server), sam (Synapse)");
    const alice = await s.login(await s.registerUser("alice"));
    const bob = await s.login(await s.registerUser("bob", secondUrl));
    const sam = await s.login(await s.registerUser("sam", synapseUrl));

    for (const other of [bob, sam]) {
        const name = other.scenarioLabel;
        s.step(`alice creates an encrypted DM with ${name} (${other.getUserId()}); ${name} joins`);
        const roomId = await s.createEncryptedRoom(alice, [other], { direct: true });
        await s.acceptInvite(other, roomId);
        await s.waitForJoined(alice, roomId, [other.getUserId()]);

        s.step(`alice -> ${name}: the message decrypts on the other server`);
        const there = await s.sendText(alice, roomId, `hello ${name}, across servers`);
        await s.expectDecrypted(other, roomId, there, `hello ${name}, across servers`);

        s.step(`${name} -> alice: the reply decrypts here`);
        const back = await s.sendText(other, roomId, `hi alice, from ${name}'s server`);
        await s.expectDecrypted(alice, roomId, back, `hi alice, from ${name}'s server`);
    }
});
