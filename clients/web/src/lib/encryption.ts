/**
 * The encryption setup as plain decisions (no SDK): what this device needs next, and the recovery key
 * file the user can download.
 *
 * The rule: nothing may depend on a key the user has not seen. Cross-signing is created at the first
 * login (the password answers the server's user-interactive auth, and we only have it then); secret
 * storage and the key backup are created with a recovery key only after the user said they saved it.
 */
import type { CryptoStatus } from "@/store/app";

export interface EncryptionFacts {
  /** This device holds the private cross-signing keys and trusts the account's identity. */
  crossSigningReady: boolean;
  /** The server has cross-signing keys for the account (made by another device, or before a reload). */
  accountHasCrossSigning: boolean;
  /** The account has a default secret-storage key, i.e. a recovery key exists. */
  recoveryKeyExists: boolean;
  /** The cross-signing (and backup) secrets are stored under that key. */
  secretStorageReady: boolean;
  /** A key backup exists on the server and this device trusts it (signed by our identity). */
  backupTrusted: boolean;
  /** We have the account password now (at login or registration). */
  havePassword: boolean;
}

export type EncryptionStep =
  | "ready" // cross-signing, secret storage and a trusted backup: nothing to do
  | "enter-recovery-key" // set up elsewhere: the recovery key unlocks it here (or the user resets)
  | "verify-or-reset" // set up elsewhere without a recovery key: verify with another session, or reset
  | "ask-password" // first setup: the server wants the password to upload cross-signing keys
  | "create-cross-signing" // first setup, password at hand
  | "offer-recovery-key"; // cross-signing is here, backup is not: offer a new recovery key

export function nextEncryptionStep(f: EncryptionFacts): EncryptionStep {
  if (!f.crossSigningReady) {
    if (f.accountHasCrossSigning) return f.recoveryKeyExists ? "enter-recovery-key" : "verify-or-reset";
    return f.havePassword ? "create-cross-signing" : "ask-password";
  }
  return f.secretStorageReady && f.backupTrusted ? "ready" : "offer-recovery-key";
}

/** The status the screens show for a step (creating cross-signing is "checking" while it runs). */
export function statusOfStep(step: EncryptionStep): CryptoStatus {
  switch (step) {
    case "ready":
      return "ready";
    case "enter-recovery-key":
      return "needs-recovery-key";
    case "verify-or-reset":
      return "needs-verification";
    case "ask-password":
      return "needs-setup";
    case "create-cross-signing":
      return "checking";
    case "offer-recovery-key":
      return "needs-recovery-setup";
  }
}

/** A short description of the encryption status for the settings. */
export function describeCryptoStatus(status: CryptoStatus): string {
  switch (status) {
    case "ready":
      return "set up, this device is verified and your messages are backed up";
    case "needs-recovery-key":
      return "waiting for your recovery key";
    case "needs-verification":
      return "not verified: verify it from another session, or reset encryption";
    case "needs-recovery-setup":
      return "this device is verified, but there is no recovery key: your messages are not backed up";
    case "needs-setup":
      return "not set up yet";
    case "unavailable":
      return "not available in this browser";
    case "checking":
    case "off":
      return "checking…";
  }
}

/** The text file a user can download with their recovery key. */
export function recoveryKeyFile(userId: string, recoveryKey: string, now: Date): { name: string; text: string } {
  const account = userId.replace(/^@/, "").replace(/[^A-Za-z0-9._=-]+/g, "-");
  const day = now.toISOString().slice(0, 10);
  return {
    name: `recovery-key-${account}.txt`,
    text: [
      `Recovery key for ${userId} (made ${day})`,
      "",
      recoveryKey,
      "",
      "It unlocks your encrypted messages on a new device. Keep it private and somewhere safe,",
      "like a password manager. It is not your password.",
      "",
    ].join("\n"),
  };
}
