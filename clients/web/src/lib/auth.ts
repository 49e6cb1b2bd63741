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
export const SUPPORTED_STAGES = new Set([DUMMY, REGISTRATION_TOKEN]);

/** The first flow we can complete, preferring one that needs no token when we have none. */
export function chooseFlow(flows: UiaFlow[], haveToken: boolean): UiaFlow | null {
  const usable = flows.filter((f) => f.stages.every((s) => SUPPORTED_STAGES.has(s)));
  if (!haveToken) {
    const tokenless = usable.find((f) => !f.stages.includes(REGISTRATION_TOKEN));
    if (tokenless) return tokenless;
  }
  return usable[0] ?? null;
}

export function needsToken(flows: UiaFlow[]): boolean {
  const flow = chooseFlow(flows, false);
  return flow !== null && flow.stages.includes(REGISTRATION_TOKEN);
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
    readonly reason: "token_required" | "unsupported" | "stuck",
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
): Promise<T> {
  let auth: Record<string, unknown> | undefined;
  for (let round = 0; round < 5; round++) {
    try {
      return await send(auth);
    } catch (error) {
      const body = uiaBodyOf(error);
      if (!body) throw error;
      // A 401 with an errcode after we sent a stage means the stage failed (e.g. a wrong token).
      if (auth && body.errcode) throw error;
      const flow = chooseFlow(body.flows ?? [], Boolean(token));
      if (!flow) throw new UiaError("This server asks for a sign-up step this client cannot do.", "unsupported");
      const done = new Set(body.completed ?? []);
      const next = flow.stages.find((s) => !done.has(s));
      if (!next) throw new UiaError("The server did not accept the sign-up steps.", "stuck");
      auth = authForStage(next, body.session, token);
    }
  }
  throw new UiaError("The server did not accept the sign-up steps.", "stuck");
}
