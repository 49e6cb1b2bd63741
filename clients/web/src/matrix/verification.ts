/**
 * Verifying one of our own sessions with the emoji SAS: we request (requestOwnUserVerification), the
 * other session accepts (incoming-request dialog), one side starts SAS, both compare seven emojis.
 * The state goes into a small store as plain data; the SDK objects stay here.
 */
import {
  CryptoEvent,
  VerificationPhase,
  VerificationRequestEvent,
  VerifierEvent,
  type ShowSasCallbacks,
  type VerificationRequest,
  type Verifier,
} from "matrix-js-sdk/lib/crypto-api/index.js";
import type { MatrixClient } from "matrix-js-sdk";
import { create } from "zustand";

export type VerificationStage = "idle" | "incoming" | "waiting" | "ready" | "emoji" | "confirming" | "done" | "cancelled";

export interface VerificationView {
  stage: VerificationStage;
  /** The other session's device ID, when known. */
  otherDevice?: string;
  emojis?: { symbol: string; name: string }[];
  reason?: string;
}

export const useVerificationStore = create<VerificationView & { set(v: VerificationView): void }>()((set) => ({
  stage: "idle",
  set: (v) => set({ stage: v.stage, otherDevice: v.otherDevice, emojis: v.emojis, reason: v.reason }),
}));

let request: VerificationRequest | null = null;
let sas: ShowSasCallbacks | null = null;
let verifierStarted: Verifier | null = null;

function show(v: VerificationView): void {
  useVerificationStore.getState().set(v);
}

function follow(req: VerificationRequest): void {
  request = req;
  sas = null;
  verifierStarted = null;
  const onChange = () => {
    if (request !== req) return;
    const other = req.otherDeviceId;
    switch (req.phase) {
      case VerificationPhase.Requested:
        show({ stage: req.initiatedByMe ? "waiting" : "incoming", otherDevice: other });
        break;
      case VerificationPhase.Ready:
        // The side that asked starts the emoji comparison once the other accepted.
        if (req.initiatedByMe) void startSas(req);
        else show({ stage: "ready", otherDevice: other });
        break;
      case VerificationPhase.Started:
        if (req.verifier) runVerifier(req.verifier, other);
        break;
      case VerificationPhase.Done:
        show({ stage: "done", otherDevice: other });
        void refreshTrustAfterVerification();
        break;
      case VerificationPhase.Cancelled:
        // Another of our sessions answered the request: nothing happened here, nothing to say.
        if (!req.initiatedByMe && req.cancellationCode === "m.accepted") {
          closeVerification();
          break;
        }
        show({ stage: "cancelled", otherDevice: other, reason: req.cancellationCode === "m.mismatched_sas" ? "The emojis did not match." : "The verification was cancelled." });
        break;
    }
  };
  req.on(VerificationRequestEvent.Change, onChange);
  onChange();
}

/**
 * After verifying with our other session, this one receives the cross-signing (and backup) secrets from
 * it shortly after; once they are here, re-check encryption so the "enter your recovery key" banner goes.
 */
async function refreshTrustAfterVerification(): Promise<void> {
  const { currentClient, setUpEncryption } = await import("./session");
  for (let i = 0; i < 20; i++) {
    const crypto = currentClient()?.getCrypto();
    if (!crypto) return;
    if (await crypto.isCrossSigningReady()) {
      await setUpEncryption();
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function startSas(req: VerificationRequest): Promise<void> {
  try {
    const verifier = await req.startVerification("m.sas.v1");
    runVerifier(verifier, req.otherDeviceId);
  } catch (error) {
    show({ stage: "cancelled", reason: (error as Error).message });
  }
}

function runVerifier(verifier: Verifier, other?: string): void {
  if (verifierStarted === verifier) return;
  verifierStarted = verifier;
  verifier.on(VerifierEvent.ShowSas, (callbacks) => {
    sas = callbacks;
    show({
      stage: "emoji",
      otherDevice: other,
      emojis: (callbacks.sas.emoji ?? []).map(([symbol, name]) => ({ symbol, name })),
    });
  });
  verifier.verify().catch((error) => {
    if (useVerificationStore.getState().stage !== "done") {
      show({ stage: "cancelled", otherDevice: other, reason: (error as Error).message || "The verification was cancelled." });
    }
  });
}

/** From the sessions list: ask our other sessions to verify this one. */
export async function requestOwnVerification(c: MatrixClient): Promise<void> {
  const crypto = c.getCrypto();
  if (!crypto) throw new Error("Encryption is not available in this browser.");
  show({ stage: "waiting" });
  follow(await crypto.requestOwnUserVerification());
}

export async function acceptIncoming(): Promise<void> {
  if (!request) return;
  await request.accept();
}

export async function confirmEmojis(): Promise<void> {
  if (!sas) return;
  show({ ...useVerificationStore.getState(), stage: "confirming" });
  await sas.confirm();
}

export function rejectEmojis(): void {
  sas?.mismatch();
}

export function cancelVerification(): void {
  const req = request;
  forgetVerification();
  show({ stage: "idle" });
  if (req && req.phase !== VerificationPhase.Done && req.phase !== VerificationPhase.Cancelled) void req.cancel().catch(() => {});
}

export function closeVerification(): void {
  forgetVerification();
  show({ stage: "idle" });
}

/**
 * Lets go of the SDK's verification objects. They wrap Rust objects that hold the crypto store open:
 * kept after the verification (or after logout) they keep its IndexedDB connection open too.
 */
export function forgetVerification(): void {
  request = null;
  sas = null;
  verifierStarted = null;
}

/** Incoming requests from our own other sessions open the dialog. */
export function attachVerificationListener(c: MatrixClient): void {
  c.on(CryptoEvent.VerificationRequestReceived, (req: VerificationRequest) => {
    if (!req.isSelfVerification) return;
    if (request && request.phase !== VerificationPhase.Done && request.phase !== VerificationPhase.Cancelled) return;
    follow(req);
  });
}
