// Three users in one encrypted room: every user's message decrypts for the two others.
import { runScenario } from "../lib/harness.js";

runScenario("encrypted_group", async (s) => {
    s.step("register and log in alice, bob and carol");
    const alice = await s.login(await s.registerUser("alice"));
    const bob = await s.login(await s.registerUser("bob"));
    const carol = await s.login(await s.registerUser("carol"));
    const everyone = [alice, bob, carol];

    s.step("alice creates an encrypted room inviting bob and carol; both join");
    const roomId = await s.createEncryptedRoom(alice, [bob, carol]);
    await s.acceptInvite(bob, roomId);
    await s.acceptInvite(carol, roomId);
    for (const member of everyone) {
        await s.waitForJoined(member, roomId, everyone.map((c) => c.getUserId()));
    }

    for (const sender of everyone) {
        const body = `group secret from ${sender.scenarioLabel}`;
        s.step(`${sender.scenarioLabel} sends; the two others decrypt it`);
        const eventId = await s.sendText(sender, roomId, body);
        for (const reader of everyone.filter((c) => c !== sender)) {
            await s.expectDecrypted(reader, roomId, eventId, body);
        }
    }
});
