import { beforeEach, describe, expect, it } from "vitest";
import {
  cryptoDatabases,
  deleteCryptoStore,
  deleteDatabase,
  finishPendingDeletions,
  forgetPendingDeletion,
  knownCryptoDatabases,
  pendingDeletions,
  PENDING_DELETIONS_KEY,
  rememberPendingDeletion,
} from "./crypto-store";

type Handlers = { onsuccess: (() => void) | null; onerror: (() => void) | null; onblocked: (() => void) | null };

/**
 * An IndexedDB factory with databases and open connections: deleting a database with a connection is
 * blocked (the request stays queued) until `closeAll()`, as in a browser.
 */
class FakeFactory {
  names = new Set<string>();
  open = new Set<string>();
  queued: { name: string; request: Handlers }[] = [];
  refuse = false;
  listing = true;

  constructor(names: string[], open: string[] = []) {
    names.forEach((n) => this.names.add(n));
    open.forEach((n) => this.open.add(n));
  }

  get databases() {
    return this.listing ? async () => [...this.names].map((name) => ({ name, version: 1 })) : undefined;
  }

  deleteDatabase(name: string): IDBOpenDBRequest {
    const request: Handlers = { onsuccess: null, onerror: null, onblocked: null };
    setTimeout(() => {
      if (this.refuse) return request.onerror?.();
      if (this.open.has(name)) {
        this.queued.push({ name, request });
        return request.onblocked?.();
      }
      this.names.delete(name);
      request.onsuccess?.();
    }, 0);
    return request as unknown as IDBOpenDBRequest;
  }

  closeAll() {
    this.open.clear();
    for (const { name, request } of this.queued.splice(0)) {
      this.names.delete(name);
      request.onsuccess?.();
    }
  }
}

const PREFIX = "hs-crypto:@a:x:DEV";
const [MAIN, META] = knownCryptoDatabases(PREFIX);
const QUICK = { settleWhenBlocked: true, safetyMs: 1000 };

describe("deleting a crypto store", () => {
  beforeEach(() => localStorage.clear());

  it("lists only the databases of that store", async () => {
    const f = new FakeFactory([MAIN, META, "hs-crypto:@a:x:OTHER::matrix-sdk-crypto", "unrelated"]);
    expect((await cryptoDatabases(f, PREFIX)).sort()).toEqual([MAIN, META]);
    f.listing = false;
    expect(await cryptoDatabases(f, PREFIX)).toEqual([MAIN, META]);
  });

  it("deletes a store nobody has open", async () => {
    const f = new FakeFactory([MAIN, META]);
    expect(await deleteCryptoStore(f, PREFIX, QUICK)).toBe(true);
    expect([...f.names]).toEqual([]);
  });

  it("says so at once when an open connection blocks the delete", async () => {
    const f = new FakeFactory([MAIN, META], [MAIN]);
    expect(await deleteCryptoStore(f, PREFIX, QUICK)).toBe(false);
    expect([...f.names]).toEqual([MAIN]);
    // The queued delete completes when the connection closes (as when the page unloads).
    f.closeAll();
    expect([...f.names]).toEqual([]);
  });

  it("waits through a block when told to, until the connection closes", async () => {
    const f = new FakeFactory([MAIN], [MAIN]);
    const outcome = deleteDatabase(f, MAIN, { settleWhenBlocked: false, safetyMs: 1000 });
    setTimeout(() => f.closeAll(), 20);
    expect(await outcome).toBe("deleted");
  });

  it("gives up after the safety time when the browser says nothing", async () => {
    const silent = { deleteDatabase: () => ({}) as IDBOpenDBRequest };
    expect(await deleteDatabase(silent, MAIN, { settleWhenBlocked: true, safetyMs: 10 })).toBe("blocked");
  });

  it("treats a refused delete (private browsing) as done: nothing more can be done", async () => {
    const f = new FakeFactory([MAIN]);
    f.refuse = true;
    expect(await deleteDatabase(f, MAIN, QUICK)).toBe("failed");
    expect(await deleteCryptoStore(f, PREFIX, QUICK)).toBe(true);
  });

  it("remembers pending deletions once each, and forgets them", () => {
    rememberPendingDeletion(localStorage, PREFIX);
    rememberPendingDeletion(localStorage, PREFIX);
    rememberPendingDeletion(localStorage, "hs-crypto:@b:x:D2");
    expect(pendingDeletions(localStorage)).toEqual([PREFIX, "hs-crypto:@b:x:D2"]);
    forgetPendingDeletion(localStorage, PREFIX);
    forgetPendingDeletion(localStorage, "hs-crypto:@b:x:D2");
    expect(localStorage.getItem(PENDING_DELETIONS_KEY)).toBeNull();
  });

  it("ignores corrupt pending data", () => {
    localStorage.setItem(PENDING_DELETIONS_KEY, "{oops");
    expect(pendingDeletions(localStorage)).toEqual([]);
    localStorage.setItem(PENDING_DELETIONS_KEY, JSON.stringify(["ok", 3, ""]));
    expect(pendingDeletions(localStorage)).toEqual(["ok"]);
  });

  it("finishes pending deletions at page load, keeping those still blocked for the next load", async () => {
    const other = "hs-crypto:@b:x:D2";
    const f = new FakeFactory([MAIN, META, `${other}::matrix-sdk-crypto`], [`${other}::matrix-sdk-crypto`]);
    rememberPendingDeletion(localStorage, PREFIX);
    rememberPendingDeletion(localStorage, other);
    await finishPendingDeletions(localStorage, f, 30);
    expect([...f.names]).toEqual([`${other}::matrix-sdk-crypto`]);
    expect(pendingDeletions(localStorage)).toEqual([other]);
  });
});
