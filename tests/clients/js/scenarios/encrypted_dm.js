// Two users, one device each: an encrypted DM where a message in each direction decrypts.
import { runScenario } from "../lib/harness.js";

runScenario("encrypted_dm", async (s) => {
    s.step("register and log in alice and bob (Rust crypto, in-memory store)");
    const alice = await s.login(await s.registerUser("alice"));
    const bob = await s.login(await s.registerUser("bob"));

    s.step("alice creates an encrypted DM and invites bob; bob joins");
    const roomId = await s.createEncryptedRoom(alice, [bob], { direct: true });
    await s.acceptInvite(bob, roomId);
    await s.waitForJoined(alice, roomId, [bob.getUserId()]);

    s.step("alice -> bob: the message decrypts on bob's side");
    const toBob = await s.sendText(alice, roomId, "hello bob, this is secret");
    await s.expectDecrypted(bob, roomId, toBob, "hello bob, this is secret");

    s.step("bob -> alice: the reply decrypts on alice's side");
    const toAlice = await s.sendText(bob, roomId, "hi alice, secret received");
    await s.expectDecrypted(alice, roomId, toAlice, "hi alice, secret received");
});
