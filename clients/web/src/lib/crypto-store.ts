/**
 * Deleting a device's crypto store (the Rust crypto's IndexedDB databases) when its session ends.
 *
 * `indexedDB.deleteDatabase` waits until every connection to the database is closed. The crypto store's
 * connection closes when the last Rust object using the store is freed, and wasm objects that the old
 * session's JavaScript still holds (or that wait for the garbage collector) keep it open; the store
 * never closes it in answer to the "versionchange" event either. So a delete that is blocked is
 * finished by a fresh page, which has no connection: the prefix is remembered in localStorage until the
 * databases are gone, and `finishPendingDeletions` runs at every page load.
 */

export const PENDING_DELETIONS_KEY = "hs.crypto-store-deletions";

/** What `deleteDatabase` reached: done, refused by the browser, or waiting for connections to close. */
export type DeletionOutcome = "deleted" | "failed" | "blocked";

type Factory = Pick<IDBFactory, "deleteDatabase"> & { databases?: IDBFactory["databases"] };

/** The names the Rust crypto store uses for a prefix (when the browser cannot list databases). */
export function knownCryptoDatabases(prefix: string): string[] {
  return [`${prefix}::matrix-sdk-crypto`, `${prefix}::matrix-sdk-crypto-meta`];
}

/** The databases of the crypto store with this prefix that exist now. */
export async function cryptoDatabases(factory: Factory, prefix: string): Promise<string[]> {
  if (typeof factory.databases !== "function") return knownCryptoDatabases(prefix);
  try {
    const all = await factory.databases();
    return all.map((d) => d.name ?? "").filter((name) => name.startsWith(`${prefix}::`));
  } catch {
    return knownCryptoDatabases(prefix);
  }
}

export interface DeleteOptions {
  /** Settle as soon as the browser says an open connection blocks the delete (else wait for it). */
  settleWhenBlocked: boolean;
  /** Gives up waiting ("blocked") after this long: the browser may say nothing at all. */
  safetyMs: number;
}

/**
 * Asks to delete one database; settles on success, on error, or (when told) as soon as the browser says
 * the delete is blocked by an open connection. A blocked delete stays queued and completes when that
 * connection closes.
 */
export function deleteDatabase(factory: Factory, name: string, { settleWhenBlocked, safetyMs }: DeleteOptions): Promise<DeletionOutcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("blocked"), safetyMs);
    const settle = (outcome: DeletionOutcome) => {
      clearTimeout(timer);
      resolve(outcome);
    };
    let request: IDBOpenDBRequest;
    try {
      request = factory.deleteDatabase(name);
    } catch {
      settle("failed");
      return;
    }
    request.onsuccess = () => settle("deleted");
    request.onerror = () => settle("failed");
    request.onblocked = () => {
      if (settleWhenBlocked) settle("blocked");
    };
  });
}

/**
 * Deletes every database of the crypto store with this prefix. True when all are gone (or the browser
 * refused outright, as private modes do: there is nothing more we can do then); false when a delete is
 * blocked by a connection still open in this page.
 */
export async function deleteCryptoStore(factory: Factory, prefix: string, options: DeleteOptions): Promise<boolean> {
  const names = await cryptoDatabases(factory, prefix);
  const outcomes = await Promise.all(names.map((name) => deleteDatabase(factory, name, options)));
  return !outcomes.includes("blocked");
}

export function pendingDeletions(storage: Pick<Storage, "getItem">): string[] {
  try {
    const parsed: unknown = JSON.parse(storage.getItem(PENDING_DELETIONS_KEY) ?? "[]");
    return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === "string" && p.length > 0) : [];
  } catch {
    return [];
  }
}

function savePending(storage: Pick<Storage, "setItem" | "removeItem">, prefixes: string[]): void {
  if (prefixes.length === 0) storage.removeItem(PENDING_DELETIONS_KEY);
  else storage.setItem(PENDING_DELETIONS_KEY, JSON.stringify(prefixes));
}

/** Remembers that this store must go, before trying: a closed tab or a reload then still finishes it. */
export function rememberPendingDeletion(storage: Pick<Storage, "getItem" | "setItem" | "removeItem">, prefix: string): void {
  const pending = pendingDeletions(storage);
  if (!pending.includes(prefix)) savePending(storage, [...pending, prefix]);
}

export function forgetPendingDeletion(storage: Pick<Storage, "getItem" | "setItem" | "removeItem">, prefix: string): void {
  savePending(storage, pendingDeletions(storage).filter((p) => p !== prefix));
}

/**
 * At page load: deletes the stores that an ended session could not delete. This page holds no
 * connection to them (the previous page's close as it unloads), so the deletes complete; if another tab
 * still uses a store, the next load tries again.
 */
export async function finishPendingDeletions(
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem">,
  factory: Factory,
  safetyMs = 30_000,
): Promise<void> {
  for (const prefix of pendingDeletions(storage)) {
    if (await deleteCryptoStore(factory, prefix, { settleWhenBlocked: false, safetyMs })) forgetPendingDeletion(storage, prefix);
  }
}
