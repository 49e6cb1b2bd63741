/** Registration through user-interactive auth (UIA): the stages this client can complete on its own. */

export interface UiaFlow {
  stages: string[];
}

export interface UiaResponse {
  session?: string;
  flows?: UiaFlow[];
  completed?: string[];
  params?: Record<string, unknown>;
  errcode?: string;
  error?: string;
}

export const DUMMY = "m.login.dummy";
export const REGISTRATION_TOKEN = "m.login.registration_token";
export const EMAIL_IDENTITY = "m.login.email.identity";
export const SUPPORTED_STAGES = new Set([DUMMY, REGISTRATION_TOKEN, EMAIL_IDENTITY]);
/** How often a client waiting for the mailed link to be opened asks again, and for how long. */
export const EMAIL_POLL_MS = 2_000;
const EMAIL_POLL_ROUNDS = 900; // half an hour

/**
 * The first flow we can complete, preferring one that needs no token (no e-mail address) when we
 * have none; with an address, one that confirms it.
 */
export function chooseFlow(flows: UiaFlow[], haveToken: boolean, haveEmail = false): UiaFlow | null {
  const usable = flows.filter((f) => f.stages.every((s) => SUPPORTED_STAGES.has(s)));
  const fits = (f: UiaFlow) =>
    (haveToken || !f.stages.includes(REGISTRATION_TOKEN)) && (haveEmail || !f.stages.includes(EMAIL_IDENTITY));
  if (haveEmail) {
    const confirming = usable.find((f) => fits(f) && f.stages.includes(EMAIL_IDENTITY));
    if (confirming) return confirming;
  }
  return usable.find(fits) ?? usable[0] ?? null;
}

export function needsToken(flows: UiaFlow[]): boolean {
  const flow = chooseFlow(flows, false, true);
  return flow !== null && flow.stages.includes(REGISTRATION_TOKEN);
}

/** Whether sign-up needs an e-mail address ("required"), may take one ("optional"), or cannot ("no"). */
export function emailNeed(flows: UiaFlow[]): "required" | "optional" | "no" {
  const withoutEmail = chooseFlow(flows, true, false);
  if (withoutEmail && !withoutEmail.stages.includes(EMAIL_IDENTITY)) {
    return chooseFlow(flows, true, true)?.stages.includes(EMAIL_IDENTITY) ? "optional" : "no";
  }
  return withoutEmail ? "required" : "no";
}

/**
 * The e-mail stage: `start` asks the server to mail a link (once per UIA session) and returns the
 * `threepid_creds`; `wait` pauses between attempts while the link has not been opened yet.
 */
export interface EmailStage {
  start(): Promise<{ sid: string; client_secret: string }>;
  wait(): Promise<void>;
}

export function authForStage(stage: string, session: string | undefined, token: string | undefined) {
  if (stage === REGISTRATION_TOKEN) {
    if (!token) throw new UiaError("This server needs a registration token.", "token_required");
    return { type: stage, token, session };
  }
  return { type: stage, session };
}

export class UiaError extends Error {
  constructor(
    message: string,
    readonly reason: "token_required" | "email_required" | "unsupported" | "stuck",
  ) {
    super(message);
  }
}

/** Thrown by `send` for a 401 carrying a UIA body; anything else is rethrown as is. */
export function uiaBodyOf(error: unknown): UiaResponse | null {
  if (!error || typeof error !== "object") return null;
  const e = error as { httpStatus?: number; data?: UiaResponse };
  return e.httpStatus === 401 && e.data && Array.isArray(e.data.flows) ? e.data : null;
}

/**
 * Runs UIA to completion: sends without auth, then each remaining stage of a flow we support.
 * `send` makes the request with the given auth dict (or none) and throws the SDK's error on non-2xx.
 */
export async function completeUia<T>(
  send: (auth: Record<string, unknown> | undefined) => Promise<T>,
  token?: string,
  email?: EmailStage,
): Promise<T> {
  let auth: Record<string, unknown> | undefined;
  let creds: { sid: string; client_secret: string } | undefined;
  let steps = 0;
  for (let round = 0; round < EMAIL_POLL_ROUNDS; round++) {
    try {
      return await send(auth);
    } catch (error) {
      const body = uiaBodyOf(error);
      if (!body) throw error;
      if (auth?.type === EMAIL_IDENTITY && body.errcode === "M_UNAUTHORIZED") {
        // The link in the mail has not been opened yet: ask again in a moment.
        await email!.wait();
        continue;
      }
      // A 401 with an errcode after we sent a stage means the stage failed (e.g. a wrong token).
      if (auth && body.errcode) throw error;
      if (++steps > 5) break;
      const flow = chooseFlow(body.flows ?? [], Boolean(token), Boolean(email));
      if (!flow) throw new UiaError("This server asks for a sign-up step this client cannot do.", "unsupported");
      const done = new Set(body.completed ?? []);
      const next = flow.stages.find((s) => !done.has(s));
      if (!next) throw new UiaError("The server did not accept the sign-up steps.", "stuck");
      if (next === EMAIL_IDENTITY) {
        if (!email) throw new UiaError("This server needs an e-mail address to sign up.", "email_required");
        creds ??= await email.start();
        auth = { type: EMAIL_IDENTITY, session: body.session, threepid_creds: creds };
      } else {
        auth = authForStage(next, body.session, token);
      }
    }
  }
  throw new UiaError("The server did not accept the sign-up steps.", "stuck");
}
