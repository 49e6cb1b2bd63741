/** Words for a person, for errors and undecryptable messages. */

/** Mirrors matrix-js-sdk's DecryptionFailureCode values (kept as strings so this module stays SDK-free). */
const DECRYPTION_FAILURE_TEXT: Record<string, string> = {
  MEGOLM_UNKNOWN_INBOUND_SESSION_ID:
    "Waiting for this message's key. The sender's device has not shared it with this device (yet).",
  MEGOLM_KEY_WITHHELD: "The sender's device refused to share this message's key with this device.",
  MEGOLM_KEY_WITHHELD_FOR_UNVERIFIED_DEVICE:
    "The sender does not share keys with unverified devices. Verify this device with your recovery key.",
  OLM_UNKNOWN_MESSAGE_INDEX: "This device only has the key for later messages of this conversation.",
  HISTORICAL_MESSAGE_NO_KEY_BACKUP: "Sent before this device logged in, and there is no key backup to restore it from.",
  HISTORICAL_MESSAGE_BACKUP_UNCONFIGURED:
    "Sent before this device logged in. Enter your recovery key to restore it from your key backup.",
  HISTORICAL_MESSAGE_WORKING_BACKUP: "Sent before this device logged in; its key is not in your key backup.",
  HISTORICAL_MESSAGE_USER_NOT_JOINED: "Sent before you joined this conversation, so you cannot read it.",
  SENDER_IDENTITY_PREVIOUSLY_VERIFIED: "The sender's identity changed since you verified it: not shown for safety.",
  UNSIGNED_SENDER_DEVICE: "Sent from a device its owner has not verified: not shown for safety.",
  UNKNOWN_SENDER_DEVICE: "Sent from an unknown device: not shown for safety.",
};

export function describeDecryptionFailure(code: string | null | undefined): string {
  return (code && DECRYPTION_FAILURE_TEXT[code]) || "This message could not be decrypted.";
}

interface MatrixLikeError {
  errcode?: string;
  httpStatus?: number;
  data?: { error?: string; errcode?: string };
  message?: string;
}

const ERRCODE_TEXT: Record<string, string> = {
  M_FORBIDDEN: "Wrong user name or password.",
  M_USER_IN_USE: "That user name is taken.",
  M_INVALID_USERNAME: "User names may only hold a-z, 0-9 and . _ = - /",
  M_EXCLUSIVE: "That user name is reserved.",
  M_WEAK_PASSWORD: "That password is too weak.",
  M_LIMIT_EXCEEDED: "Too many attempts. Wait a moment and try again.",
  M_USER_DEACTIVATED: "This account has been deactivated.",
  M_THREEPID_IN_USE: "That e-mail address is already used by an account.",
  M_THREEPID_NOT_FOUND: "No account has that e-mail address.",
  M_THREEPID_DENIED: "This server does not accept that e-mail address.",
  M_THREEPID_MEDIUM_NOT_SUPPORTED: "This server does not send e-mail.",
  M_THREEPID_AUTH_FAILED: "Open the link in the mail first.",
};

/** A message for a failed request: our words for known errcodes, else the server's, else a generic one. */
export function describeError(error: unknown): string {
  if (error && typeof error === "object") {
    const e = error as MatrixLikeError;
    const errcode = e.errcode ?? e.data?.errcode;
    if (errcode && ERRCODE_TEXT[errcode]) return ERRCODE_TEXT[errcode];
    if (e.data?.error) return e.data.error;
    if (e.httpStatus === undefined && e.message && /fetch|network/i.test(e.message)) {
      return "Cannot reach the server. Check your connection.";
    }
    if (e.message) return e.message;
  }
  return "Something went wrong.";
}
