import { describe, expect, it } from "vitest";
import { describeCryptoStatus, nextEncryptionStep, recoveryKeyFile, statusOfStep, type EncryptionFacts } from "./encryption";

const none: EncryptionFacts = {
  crossSigningReady: false,
  accountHasCrossSigning: false,
  recoveryKeyExists: false,
  secretStorageReady: false,
  backupTrusted: false,
  havePassword: false,
};

describe("the next encryption step", () => {
  it("creates cross-signing at the first login, or asks for the password without it", () => {
    expect(nextEncryptionStep({ ...none, havePassword: true })).toBe("create-cross-signing");
    expect(nextEncryptionStep(none)).toBe("ask-password");
  });

  it("offers a recovery key when cross-signing is here but secret storage or a trusted backup is not", () => {
    const here = { ...none, crossSigningReady: true, accountHasCrossSigning: true };
    // The page was closed before the user confirmed the key: nothing was stored.
    expect(nextEncryptionStep(here)).toBe("offer-recovery-key");
    // After a reset: the old secret storage may still be there, but the old backup is not trusted.
    expect(nextEncryptionStep({ ...here, recoveryKeyExists: true, secretStorageReady: true })).toBe("offer-recovery-key");
    expect(nextEncryptionStep({ ...here, backupTrusted: true })).toBe("offer-recovery-key");
    expect(nextEncryptionStep({ ...here, recoveryKeyExists: true, secretStorageReady: true, backupTrusted: true })).toBe("ready");
  });

  it("asks a new device for the recovery key, or for a verification when the account has none", () => {
    const elsewhere = { ...none, accountHasCrossSigning: true, havePassword: true };
    expect(nextEncryptionStep({ ...elsewhere, recoveryKeyExists: true })).toBe("enter-recovery-key");
    expect(nextEncryptionStep(elsewhere)).toBe("verify-or-reset");
  });

  it("maps every step to a status the screens know", () => {
    expect(statusOfStep("ready")).toBe("ready");
    expect(statusOfStep("enter-recovery-key")).toBe("needs-recovery-key");
    expect(statusOfStep("verify-or-reset")).toBe("needs-verification");
    expect(statusOfStep("ask-password")).toBe("needs-setup");
    expect(statusOfStep("create-cross-signing")).toBe("checking");
    expect(statusOfStep("offer-recovery-key")).toBe("needs-recovery-setup");
    expect(describeCryptoStatus("needs-recovery-setup")).toMatch(/not backed up/);
  });
});

describe("the recovery key file", () => {
  it("names the account in a safe file name and holds the key with a short explanation", () => {
    const file = recoveryKeyFile("@alice:example.org", "EsTa bcde fghi", new Date("2026-11-25T10:00:00Z"));
    expect(file.name).toBe("recovery-key-alice-example.org.txt");
    expect(file.text).toContain("\nEsTa bcde fghi\n");
    expect(file.text).toContain("Recovery key for @alice:example.org (made 2026-11-25)");
    expect(recoveryKeyFile("@a/../b:x", "k", new Date(0)).name).toBe("recovery-key-a-..-b-x.txt");
  });
});
