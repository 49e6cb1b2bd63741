// Registration on a server that requires a registration token (the m.login.registration_token UIA stage).
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { PASSWORD, fillRegistrationForm, startEnvironment, storedSession, waitForRoomList } from "./support.mjs";

const SHARED_SECRET = "e2e-shared-secret";

let env;

async function adminToken() {
  const url = `${env.baseUrl}/_synapse/admin/v1/register`;
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
    env = await startEnvironment({
      overrides: { registration_requires_token: true, registration_shared_secret: SHARED_SECRET },
    });
  });

  after(async () => {
    await env?.stop();
  });

  test("asks for the token, refuses a wrong one, accepts the right one", async () => {
    const admin = await adminToken();
    const created = await fetch(`${env.baseUrl}/_synapse/admin/v1/registration_tokens/new`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${admin}` },
      body: JSON.stringify({ uses_allowed: 1 }),
    });
    const { token } = await created.json();
    assert.ok(token);

    const page = await env.newPage();
    await fillRegistrationForm(page, "dora");
    const tokenField = page.getByLabel("Registration token");
    await tokenField.fill("not-the-token");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("alert").waitFor();
    assert.equal(await storedSession(page), null);

    await tokenField.fill(token);
    await page.getByRole("button", { name: "Create account" }).click();
    await waitForRoomList(page, { timeout: 60_000 });
    const saved = await storedSession(page);
    assert.equal(saved.userId, "@dora:localhost");
    await page.context().close();
  });
});
