// Device-list tracking: when bob logs in a second device, alice (who shares an encrypted room with him)
// learns of it through device_lists in /sync, and her next message decrypts on the new device too.
// When bob logs the first device out, alice learns it is gone, and messages still reach the second.
import { runScenario } from "../lib/harness.js";

runScenario("device_changes", async (s) => {
    s.step("alice and bob (first device) share an encrypted DM");
    const bobUser = await s.registerUser("bob");
    const alice = await s.login(await s.registerUser("alice"));
    const bob1 = await s.login(bobUser, { label: "bob-1" });
    const bobId = bob1.getUserId();
    const roomId = await s.createEncryptedRoom(alice, [bob1], { direct: true });
    await s.acceptInvite(bob1, roomId);
    await s.waitForJoined(alice, roomId, [bobId]);
    const first = await s.sendText(alice, roomId, "for bob's first device");
    await s.expectDecrypted(bob1, roomId, first, "for bob's first device");
    await s.waitForDeviceList(alice, bobId, [bob1.getDeviceId()]);

    s.step("bob logs in a second device; alice's client learns about it");
    const bob2 = await s.login(bobUser, { label: "bob-2" });
    await s.waitForDeviceList(alice, bobId, [bob1.getDeviceId(), bob2.getDeviceId()]);

    s.step("alice's next message decrypts on both of bob's devices");
    const second = await s.sendText(alice, roomId, "for both of bob's devices");
    await s.expectDecrypted(bob2, roomId, second, "for both of bob's devices");
    await s.expectDecrypted(bob1, roomId, second, "for both of bob's devices");

    s.step("bob-2 replies; alice decrypts it");
    const reply = await s.sendText(bob2, roomId, "sent from bob's second device");
    await s.expectDecrypted(alice, roomId, reply, "sent from bob's second device");

    s.step("bob logs out his first device; alice's client sees it gone");
    bob1.stopClient();
    await bob1.logout(true);
    await s.waitForDeviceList(alice, bobId, [bob2.getDeviceId()]);

    s.step("alice's next message still decrypts on bob-2");
    const third = await s.sendText(alice, roomId, "after bob's first device left");
    await s.expectDecrypted(bob2, roomId, third, "after bob's first device left");
});
