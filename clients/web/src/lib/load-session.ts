/** The Matrix session module (matrix-js-sdk and, through it, the crypto WASM) is loaded on demand. */
export type SessionModule = typeof import("@/matrix/session");

let loading: Promise<SessionModule> | null = null;

export function loadSessionModule(): Promise<SessionModule> {
  loading ??= import("@/matrix/session");
  return loading;
}
