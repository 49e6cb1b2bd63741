/** The saved login (localStorage), so a session survives browser restarts. Crypto keys live in IndexedDB. */

export interface StoredSession {
  homeserverUrl: string;
  userId: string;
  deviceId: string;
  accessToken: string;
}

export const SESSION_KEY = "hs.session";

function isStoredSession(value: unknown): value is StoredSession {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return ["homeserverUrl", "userId", "deviceId", "accessToken"].every(
    (k) => typeof v[k] === "string" && (v[k] as string).length > 0,
  );
}

export function loadSession(storage: Pick<Storage, "getItem">): StoredSession | null {
  const raw = storage.getItem(SESSION_KEY);
  if (!raw) return null;
  try {
    const parsed: unknown = JSON.parse(raw);
    return isStoredSession(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

export function saveSession(storage: Pick<Storage, "setItem">, session: StoredSession): void {
  storage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession(storage: Pick<Storage, "removeItem">): void {
  storage.removeItem(SESSION_KEY);
}

/** The IndexedDB name of this device's crypto store: one per user and device, removed at logout. */
export function cryptoDatabasePrefix(session: Pick<StoredSession, "userId" | "deviceId">): string {
  return `hs-crypto:${session.userId}:${session.deviceId}`;
}
