// End to end at phone size (390x844): every main screen works without horizontal scrolling, the bottom
// navigation leads to requests, search and settings, and each screen is saved as a "-phone" screenshot.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  PHONE,
  SLOW,
  acceptInvitation,
  assertNoHorizontalScroll,
  composer,
  messageRow,
  register,
  sendMessage,
  shot,
  startDirectChat,
  startEnvironment,
  waitForRoomList,
} from "./support.mjs";

let env;
let dana;
let eve;

describe("the phone layout", () => {
  before(async () => {
    env = await startEnvironment();
    dana = await env.newPage(PHONE);
    eve = await env.newPage(PHONE);
    await register(dana, "dana", { keyScreenshot: "recovery-key" });
    await register(eve, "eve");
  });
  after(async () => env?.stop());

  test("an invitation shows under Requests, with a badge, and is accepted there", async () => {
    await startDirectChat(dana, "@eve:localhost", { searchFor: "eve" });
    await sendMessage(dana, "Hi Eve, from my phone");
    const nav = eve.getByRole("navigation", { name: "Main" });
    await nav.getByRole("button", { name: "Requests, 1 new" }).waitFor(SLOW);
    await nav.getByRole("button", { name: /^Requests/ }).click();
    await eve.getByRole("region", { name: "Requests" }).waitFor();
    await assertNoHorizontalScroll(eve);
    await shot(eve, "invitation");
    await acceptInvitation(eve);
    await messageRow(eve, "Hi Eve, from my phone").waitFor(SLOW);
    assert.equal(await nav.isVisible(), false, "the bottom navigation is hidden inside a conversation");
    await assertNoHorizontalScroll(eve);
    await composer(eve).fill("Hello back");
    await composer(eve).press("Enter");
    await messageRow(dana, "Hello back").waitFor(SLOW);
  });

  test("conversation details, search and members open full screen", async () => {
    await eve.getByRole("button", { name: "Conversation details" }).click();
    await eve.getByRole("dialog", { name: "Conversation details" }).waitFor();
    await assertNoHorizontalScroll(eve);
    await shot(eve, "room-settings");
    await eve.keyboard.press("Escape");

    await eve.getByRole("button", { name: "Search messages" }).click();
    const search = eve.getByRole("dialog", { name: "Search messages" });
    await search.getByLabel("Search for").fill("phone");
    // An encrypted conversation: the client searches what it has decrypted (and says so).
    await search.getByRole("list", { name: "Search results" }).getByText("phone").first().waitFor(SLOW);
    await assertNoHorizontalScroll(eve);
    await shot(eve, "search");
    await eve.keyboard.press("Escape");

    await eve.getByRole("button", { name: "Back to conversations" }).click();
    await waitForRoomList(eve);
  });

  test("settings: every tab fits the screen", async () => {
    const nav = eve.getByRole("navigation", { name: "Main" });
    await nav.getByRole("button", { name: "Profile and settings" }).click();
    const settings = eve.getByRole("dialog", { name: "Settings" });
    await settings.waitFor();
    for (const [tab, name] of [["Profile", "settings-profile"], ["Sessions", "settings-sessions"],
      ["Security", "settings-security"], ["Blocked", "settings-blocked"]]) {
      await settings.getByRole("tab", { name: tab }).click();
      await settings.getByRole("tabpanel").waitFor();
      await assertNoHorizontalScroll(eve);
      await shot(eve, name);
    }
    await eve.keyboard.press("Escape");
  });

  test("a new group can be made from the phone", async () => {
    await dana.getByRole("button", { name: "Back to conversations" }).click();
    await waitForRoomList(dana);
    await dana.getByRole("button", { name: "New group" }).click();
    const dialog = dana.getByRole("dialog", { name: "New group" });
    await dialog.waitFor();
    await assertNoHorizontalScroll(dana);
    await shot(dana, "new-group");
    await dana.keyboard.press("Escape");
  });
});
