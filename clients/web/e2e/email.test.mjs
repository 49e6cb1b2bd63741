// Sign-up with a confirmed e-mail address and a forgotten password, against a server that sends its
// mails to an SMTP sink on loopback: the test reads each mail and opens its link in another tab, as a
// person would, and the page that waited goes on by itself.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PASSWORD, openSettings, settleCrypto, startEnvironment, storedSession, waitForRoomList } from "./support.mjs";
import { linkIn, startSmtpSink } from "./smtp-sink.mjs";

let env;
let smtp;

describe("e-mail", () => {
  before(async () => {
    smtp = await startSmtpSink();
    env = await startEnvironment({
      overrides: {
        enable_registration_without_verification: false,
        registrations_require_3pid: ["email"],
        email: { smtp_host: "127.0.0.1", smtp_port: smtp.port, notif_from: "Matrix <matrix@localhost.test>" },
      },
    });
  });

  after(async () => {
    await env?.stop();
    await smtp?.stop();
  });

  test("sign up with a confirmed address, add another in settings, then reset a forgotten password", async () => {
    const page = await env.newPage();
    await page.goto("/");
    await page.getByRole("tab", { name: "Create account" }).click();
    await page.getByLabel("User name").fill("erin");
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Confirm password").fill(PASSWORD);
    await page.getByLabel("E-mail address").fill("erin@example.org");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("status").filter({ hasText: "Check your inbox" }).waitFor();
    assert.equal(await storedSession(page), null);

    const mail = await smtp.waitForMail(1);
    assert.deepEqual(mail.to, ["erin@example.org"]);
    const link = linkIn(mail);
    const tab = await page.context().newPage();
    await tab.goto(link);
    await tab.getByRole("heading", { name: "E-mail address confirmed" }).waitFor();
    await tab.close();

    // The waiting page notices and finishes signing up.
    await waitForRoomList(page, { timeout: 60_000 });
    assert.equal((await storedSession(page)).userId, "@erin:localhost");
    await settleCrypto(page);

    // Settings lists the address; a second one is added with its own mail and the password.
    const dialog = await openSettings(page, "Profile");
    const list = dialog.getByRole("list", { name: "Your e-mail addresses" });
    await list.getByText("erin@example.org").waitFor();
    await dialog.getByLabel("Add an e-mail address").fill("erin@work.example.org");
    await dialog.getByRole("button", { name: "Send link" }).click();
    const second = await smtp.waitForMail(2);
    assert.deepEqual(second.to, ["erin@work.example.org"]);
    const tab2 = await page.context().newPage();
    await tab2.goto(linkIn(second));
    await tab2.getByRole("heading", { name: "E-mail address confirmed" }).waitFor();
    await tab2.close();
    await dialog.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await dialog.getByRole("button", { name: "Confirm" }).click();
    await list.getByText("erin@work.example.org").waitFor();
    await page.context().close();

    // Forgot password, on a fresh browser.
    const other = await env.newPage();
    await other.goto("/");
    await other.getByRole("button", { name: "Forgot password?" }).click();
    await other.getByLabel("E-mail address").fill("erin@example.org");
    await other.getByLabel("New password", { exact: true }).fill("a brand new password");
    await other.getByLabel("Confirm new password").fill("a brand new password");
    await other.getByRole("button", { name: "Reset password" }).click();
    await other.getByRole("status").filter({ hasText: "Check your inbox" }).waitFor();
    const reset = await smtp.waitForMail(3);
    const resetTab = await other.context().newPage();
    await resetTab.goto(linkIn(reset));
    await resetTab.getByRole("button", { name: "Yes, allow the password reset" }).click();
    await resetTab.getByRole("heading", { name: "E-mail address confirmed" }).waitFor();
    await resetTab.close();
    await other.getByRole("status").filter({ hasText: "Your password has been changed" }).waitFor({ timeout: 30_000 });
    await other.getByLabel("User name").fill("erin");
    await other.getByLabel("Password", { exact: true }).fill("a brand new password");
    await other.getByRole("button", { name: "Log in" }).click();
    await waitForRoomList(other, { timeout: 60_000 });
    assert.equal((await storedSession(other)).userId, "@erin:localhost");
    await other.context().close();
  });
});
