// End to end: sessions and recovery. The recovery key is stored only once the user saved it; ended
// sessions (signed out elsewhere, logged out) delete their crypto store; a lost key can be replaced by
// resetting encryption. The built client served by the REAL homeserver process, in headless Chromium.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  PASSWORD, RECOVERY_KEY_PATTERN, fillRegistrationForm, logIn, messageLog, openAppMenu, openChat, openSettings, sendMessage,
  shotDesktopAndPhone, startDirectChat, startEnvironment, storedSession, waitForCryptoSettled, waitForCryptoStatus,
} from "./support.mjs";

const USER = "@fran:localhost";

let env;
/** Pages and keys shared by the tests, in order. */
const state = {};

/** Logs fran in and waits until encryption has settled; returns the crypto status. */
async function logInAsFran(page) {
  await logIn(page, "fran");
  return waitForCryptoSettled(page);
}

/** The client-server API as the page's session. */
async function api(page, method, path, body) {
  return env.api(method, path, body, (await storedSession(page)).accessToken);
}

const defaultKeyId = async (page) => (await api(page, "GET", `/user/${encodeURIComponent(USER)}/account_data/m.secret_storage.default_key`)).json.key ?? null;

/** The crypto store databases of a device, as the browser lists them. */
const cryptoDatabases = (page, deviceId) =>
  page.evaluate(async (prefix) => (await indexedDB.databases()).map((d) => d.name).filter((n) => n.startsWith(prefix)), `hs-crypto:${USER}:${deviceId}::`);

/** Waits until the device's crypto store is gone (polling the browser's list; no clock assertions). */
async function cryptoStoreDeleted(page, deviceId) {
  await page.waitForFunction(
    async (prefix) => !(await indexedDB.databases()).some((d) => d.name.startsWith(prefix)),
    `hs-crypto:${USER}:${deviceId}::`,
    { timeout: 30_000, polling: 100 },
  );
  assert.equal(await page.evaluate(() => localStorage.getItem("hs.crypto-store-deletions")), null, "nothing left to delete");
}

async function enterRecoveryKey(page, key) {
  await page.getByRole("button", { name: "Enter recovery key" }).click();
  const dialog = page.getByRole("dialog", { name: "Enter recovery key" });
  await dialog.getByRole("textbox", { name: "Recovery key" }).fill(key);
  await dialog.getByRole("button", { name: "Restore" }).click();
  const verified = dialog.getByText(/This device is verified/);
  const problem = dialog.getByRole("alert");
  await verified.or(problem).waitFor({ timeout: 60_000 });
  if (await problem.isVisible()) return { error: await problem.textContent(), dialog };
  await dialog.getByRole("button", { name: "Done" }).click();
  return { error: null, dialog };
}

/** Waits until the server's backup holds at least `count` room keys (the SDK uploads after a random delay). */
async function backupHolds(page, count) {
  return env.waitForKeyBackup((await storedSession(page)).accessToken, count);
}

describe("sessions and recovery", () => {
  before(async () => {
    env = await startEnvironment();
    // Someone to talk to (no browser needed).
    await env.registerByApi("gus");
  });

  after(async () => {
    await env?.stop();
  });

  test("the recovery key is stored only once saved; closing the page before offers a new one, which restores history elsewhere", async () => {
    const page = await env.newPage();
    state.first = page;
    await fillRegistrationForm(page, "fran");
    await page.getByRole("button", { name: "Create account" }).click();
    assert.equal(await waitForCryptoSettled(page), "needs-recovery-setup");
    const dialog = page.getByRole("dialog", { name: "Save your recovery key" });
    const unsaved = (await dialog.getByTestId("recovery-key").textContent()).trim();
    assert.match(unsaved, RECOVERY_KEY_PATTERN);
    const [download] = await Promise.all([page.waitForEvent("download"), dialog.getByRole("button", { name: "Download (.txt)" }).click()]);
    assert.equal(download.suggestedFilename(), "recovery-key-fran-localhost.txt");
    assert.ok(readFileSync(await download.path(), "utf-8").includes(`\n${unsaved}\n`));
    await shotDesktopAndPhone(page, "recovery-key-save");
    // Cross-signing exists (the password answered the server at registration), but nothing was stored
    // with the key the user has not confirmed yet.
    assert.equal((await api(page, "GET", "/room_keys/version")).status, 404);
    assert.equal(await defaultKeyId(page), null);

    // The tab is closed and opened again: the setup is offered again, with a new key.
    await page.reload();
    assert.equal(await waitForCryptoSettled(page), "needs-recovery-setup");
    assert.equal(await dialog.isVisible(), false, "offered by the banner, not forced");
    const offer = page.getByRole("button", { name: "Set up recovery key" });
    await offer.waitFor();
    // History from before the backup existed: it goes into the backup once that is made.
    await startDirectChat(page, "@gus:localhost");
    await sendMessage(page, "Written before the backup");
    await shotDesktopAndPhone(page, "recovery-setup-offered");
    await offer.click();
    const key = (await dialog.getByTestId("recovery-key").textContent()).trim();
    assert.notEqual(key, unsaved, "a new key, not the one that was never confirmed");
    await dialog.getByRole("button", { name: "I saved it" }).click();
    await waitForCryptoStatus(page, "ready");
    await dialog.waitFor({ state: "detached" });
    assert.notEqual(await defaultKeyId(page), null);
    await backupHolds(page, 1);
    state.key = key;

    // A second browser: the first key never worked; the saved one restores the history.
    const second = await env.newPage();
    state.second = second;
    assert.equal(await logInAsFran(second), "needs-recovery-key");
    const wrong = await enterRecoveryKey(second, unsaved);
    assert.match(wrong.error, /does not match/);
    await wrong.dialog.getByRole("textbox", { name: "Recovery key" }).fill(key);
    await wrong.dialog.getByRole("button", { name: "Restore" }).click();
    await wrong.dialog.getByText(/This device is verified/).waitFor({ timeout: 60_000 });
    await wrong.dialog.getByRole("button", { name: "Done" }).click();
    await waitForCryptoStatus(second, "ready");
    await openChat(second, "gus");
    await messageLog(second).getByText("Written before the backup", { exact: true }).waitFor({ timeout: 30_000 });
  });

  test("signing out another session from Settings ends it; its 'Log in again' deletes its crypto store", async () => {
    const first = state.first;
    // A third session, verified with emojis by the first one: the verification leaves SDK objects
    // that hold the crypto store open (this is what made leaving hang before).
    const third = await env.newPage();
    assert.equal(await logInAsFran(third), "needs-recovery-key");
    const { deviceId } = await storedSession(third);
    const settings = await openSettings(third, "Sessions");
    await settings.getByRole("button", { name: "Verify with another session" }).click();
    await first.getByRole("dialog", { name: "Verify this session?" }).getByRole("button", { name: "Accept" }).click({ timeout: 30_000 });
    const emojis = (page) => page.getByRole("list", { name: "Emojis to compare" }).textContent({ timeout: 30_000 });
    assert.equal(await emojis(third), await emojis(first));
    await Promise.all([third.getByRole("button", { name: "They match" }).click(), first.getByRole("button", { name: "They match" }).click()]);
    await third.getByText("Verified. Your sessions trust each other now.").waitFor({ timeout: 30_000 });
    await first.getByText("Verified. Your sessions trust each other now.").waitFor({ timeout: 30_000 });
    await first.getByRole("button", { name: "Done" }).click();
    await third.getByRole("button", { name: "Done" }).click();
    await waitForCryptoStatus(third, "ready");
    assert.equal((await cryptoDatabases(third, deviceId)).length > 0, true);

    // The first session signs the third one out; a wrong password changes nothing.
    const list = await openSettings(first, "Sessions");
    const row = list.locator(`li[data-device-id="${deviceId}"]`);
    await row.getByRole("button", { name: /^Sign out/ }).click();
    await row.getByLabel("Your password").fill("not the password");
    await row.getByRole("button", { name: "Sign out session" }).click();
    await row.getByRole("alert").getByText(/Wrong password/).waitFor();
    await shotDesktopAndPhone(first, "sign-out-session");
    await row.getByLabel("Your password").fill(PASSWORD);
    await row.getByRole("button", { name: "Sign out session" }).click();
    await row.waitFor({ state: "detached", timeout: 30_000 });
    await first.keyboard.press("Escape");
    // A message wakes the third session's long poll; its next request meets the dead token.
    await openChat(first, "gus");
    const composer = first.getByRole("textbox", { name: "Message" });
    await composer.fill("Wake up");
    await composer.press("Enter");

    const expired = third.getByRole("dialog", { name: "You were signed out" });
    await expired.waitFor({ timeout: 60_000 });
    await expired.getByRole("button", { name: "Log in again" }).click();
    await third.getByLabel("User name").waitFor({ timeout: 30_000 });
    assert.equal(await storedSession(third), null);
    await cryptoStoreDeleted(third, deviceId);
    await third.context().close();
  });

  test("logging out and in again on the same browser works, and the recovery key restores history", async () => {
    const page = state.second;
    const { deviceId } = await storedSession(page);
    // The third session's verification request reached this one too: it went away when the first accepted.
    await page.getByRole("dialog", { name: /Verif/ }).waitFor({ state: "detached" });
    await openAppMenu(page, "Log out");
    await page.getByLabel("User name").waitFor({ timeout: 30_000 });
    await cryptoStoreDeleted(page, deviceId);

    assert.equal(await logInAsFran(page), "needs-recovery-key");
    assert.notEqual((await storedSession(page)).deviceId, deviceId, "a new device");
    const { error } = await enterRecoveryKey(page, state.key);
    assert.equal(error, null);
    await waitForCryptoStatus(page, "ready");
    await openChat(page, "gus");
    await messageLog(page).getByText("Written before the backup", { exact: true }).waitFor({ timeout: 30_000 });
    await page.context().close();
  });

  test("a lost recovery key: reset encryption makes new keys and a new backup", async () => {
    const page = await env.newPage();
    assert.equal(await logInAsFran(page), "needs-recovery-key");
    const oldKeyId = await defaultKeyId(page);
    const oldBackup = (await api(page, "GET", "/room_keys/version")).json.version;
    const settings = await openSettings(page, "Security");
    await settings.getByRole("button", { name: "Reset encryption" }).waitFor();
    await shotDesktopAndPhone(page, "settings-security-lost-key");
    await page.keyboard.press("Escape");

    await page.getByRole("button", { name: "I lost my recovery key" }).click();
    const dialog = page.getByRole("dialog", { name: "Reset encryption" });
    await dialog.getByText(/old encrypted messages become unreadable/).waitFor();
    await dialog.getByLabel("Account password").fill("not the password");
    await dialog.getByRole("button", { name: "Reset encryption" }).click();
    await dialog.getByRole("alert").getByText(/Wrong password. Nothing was changed/).waitFor({ timeout: 30_000 });
    assert.equal(await defaultKeyId(page), oldKeyId, "a wrong password leaves the recovery key as it was");
    assert.equal((await api(page, "GET", "/room_keys/version")).json.version, oldBackup);
    await shotDesktopAndPhone(page, "reset-encryption");
    await dialog.getByLabel("Account password").fill(PASSWORD);
    await dialog.getByRole("button", { name: "Reset encryption" }).click();

    const save = page.getByRole("dialog", { name: "Save your recovery key" });
    const key = (await save.getByTestId("recovery-key").textContent({ timeout: 60_000 })).trim();
    assert.notEqual(key, state.key);
    await save.getByRole("button", { name: "I saved it" }).click();
    await waitForCryptoStatus(page, "ready");
    assert.notEqual(await defaultKeyId(page), oldKeyId);
    assert.notEqual((await api(page, "GET", "/room_keys/version")).json.version, oldBackup);
    // New history goes to the new backup; the old key no longer works, the new one does.
    await openChat(page, "gus");
    await sendMessage(page, "Written after the reset");
    await backupHolds(page, 1);

    const next = await env.newPage();
    assert.equal(await logInAsFran(next), "needs-recovery-key");
    const old = await enterRecoveryKey(next, state.key);
    assert.match(old.error, /does not match/);
    await next.keyboard.press("Escape");
    const { error } = await enterRecoveryKey(next, key);
    assert.equal(error, null);
    await openChat(next, "gus");
    await messageLog(next).getByText("Written after the reset", { exact: true }).waitFor({ timeout: 30_000 });
    await next.context().close();
    await page.context().close();
  });
});
