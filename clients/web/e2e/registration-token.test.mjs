// Registration on a server that requires a registration token (the m.login.registration_token UIA stage).
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { launchChromium, startHomeserver } from "./homeserver.mjs";

const SHARED_SECRET = "e2e-shared-secret";
const PASSWORD = "correct horse battery staple";

let hs;
let browser;

async function adminToken() {
  const url = `${hs.baseUrl}/_synapse/admin/v1/register`;
  const { nonce } = await (await fetch(url)).json();
  const mac = createHmac("sha1", SHARED_SECRET).update(`${nonce}\0admin\0${PASSWORD}\0admin`).digest("hex");
  const r = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ nonce, username: "admin", password: PASSWORD, admin: true, mac }),
  });
  assert.equal(r.status, 200);
  return (await r.json()).access_token;
}

describe("registration with a registration token", () => {
  before(async () => {
    hs = await startHomeserver({
      overrides: { registration_requires_token: true, registration_shared_secret: SHARED_SECRET },
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await hs?.stop();
  });

  test("asks for the token, refuses a wrong one, accepts the right one", async () => {
    const admin = await adminToken();
    const created = await fetch(`${hs.baseUrl}/_synapse/admin/v1/registration_tokens/new`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${admin}` },
      body: JSON.stringify({ uses_allowed: 1 }),
    });
    const { token } = await created.json();
    assert.ok(token);

    const context = await browser.newContext({ baseURL: hs.baseUrl });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto("/");
    await page.getByRole("tab", { name: "Create account" }).click();
    await page.getByLabel("User name").fill("dora");
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Confirm password").fill(PASSWORD);
    const tokenField = page.getByLabel("Registration token");
    await tokenField.fill("not-the-token");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("alert").waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem("hs.session")), null);

    await tokenField.fill(token);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Chats", includeHidden: true }).waitFor({ timeout: 60_000 });
    const saved = JSON.parse(await page.evaluate(() => localStorage.getItem("hs.session")));
    assert.equal(saved.userId, "@dora:localhost");
    await context.close();
  });
});
