import { describe, expect, it } from "vitest";
import { describeDecryptionFailure, describeError } from "./errors";
import { isUserId, parseUserList, toUserId } from "./ids";
import { clearSession, cryptoDatabasePrefix, loadSession, saveSession, SESSION_KEY } from "./session";
import { isDark, loadTheme, saveTheme } from "./theme";

describe("session storage", () => {
  it("round-trips and clears", () => {
    const s = { homeserverUrl: "http://127.0.0.1:8008", userId: "@a:x", deviceId: "D", accessToken: "t" };
    saveSession(localStorage, s);
    expect(loadSession(localStorage)).toEqual(s);
    clearSession(localStorage);
    expect(loadSession(localStorage)).toBeNull();
  });
  it("ignores corrupt or partial data", () => {
    localStorage.setItem(SESSION_KEY, "{not json");
    expect(loadSession(localStorage)).toBeNull();
    localStorage.setItem(SESSION_KEY, JSON.stringify({ userId: "@a:x" }));
    expect(loadSession(localStorage)).toBeNull();
  });
  it("names one crypto database per user and device", () => {
    expect(cryptoDatabasePrefix({ userId: "@a:x", deviceId: "D1" })).not.toBe(
      cryptoDatabasePrefix({ userId: "@a:x", deviceId: "D2" }),
    );
  });
});

describe("theme", () => {
  it("defaults to system and remembers a choice", () => {
    localStorage.clear();
    expect(loadTheme(localStorage)).toBe("system");
    saveTheme(localStorage, "dark");
    expect(loadTheme(localStorage)).toBe("dark");
  });
  it("follows the system only in system mode", () => {
    expect(isDark("system", true)).toBe(true);
    expect(isDark("light", true)).toBe(false);
    expect(isDark("dark", false)).toBe(true);
  });
});

describe("user ids", () => {
  it("recognises and completes user ids", () => {
    expect(isUserId("@bob:example.org")).toBe(true);
    expect(isUserId("bob")).toBe(false);
    expect(toUserId("Bob", "@me:localhost")).toBe("@bob:localhost");
    expect(toUserId("@bob:other.org", "@me:localhost")).toBe("@bob:other.org");
    expect(toUserId("not valid!", "@me:localhost")).toBeNull();
  });
  it("parses invite lists, dropping duplicates and ourselves", () => {
    expect(parseUserList("alice, @bob:x.org alice;me ??", "@me:hs")).toEqual({
      userIds: ["@alice:hs", "@bob:x.org"],
      invalid: ["??"],
    });
  });
});

describe("errors", () => {
  it("explains decryption failures", () => {
    expect(describeDecryptionFailure("MEGOLM_UNKNOWN_INBOUND_SESSION_ID")).toMatch(/key/);
    expect(describeDecryptionFailure("SOMETHING_NEW")).toBe("This message could not be decrypted.");
  });
  it("words server errors", () => {
    expect(describeError({ httpStatus: 403, data: { errcode: "M_FORBIDDEN", error: "x" } })).toBe(
      "Wrong user name or password.",
    );
    expect(describeError({ httpStatus: 400, data: { errcode: "M_ODD", error: "Server says" } })).toBe("Server says");
    expect(describeError(new TypeError("Failed to fetch"))).toMatch(/reach the server/);
  });
});
