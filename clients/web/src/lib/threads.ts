/** Threads (m.thread relations): counting the replies a thread root shows. */

export interface BundledThread {
  /** The server's count when it sent the root (unsigned.m.relations.m.thread.count). */
  count: number;
  /** The newest reply the server knew of then. */
  latestEventId?: string;
}

/**
 * How many replies a thread root has: the server's bundled count, plus the replies loaded after the
 * one that count ended with (they came later, by sync). Without a bundle, or when its latest reply is
 * not among the loaded ones (a gap), the larger of the two counts.
 */
export function threadReplyCount(bundled: BundledThread | null, loadedReplyIds: string[]): number {
  const loaded = new Set(loadedReplyIds).size;
  if (!bundled) return loaded;
  const at = bundled.latestEventId ? loadedReplyIds.indexOf(bundled.latestEventId) : -1;
  if (at < 0) return Math.max(bundled.count, loaded);
  return bundled.count + new Set(loadedReplyIds.slice(at + 1)).size;
}

export function repliesLabel(count: number): string {
  return count === 1 ? "1 reply" : `${count} replies`;
}

/** The thread relation of an event's content: the root, and whether its reply part is only a fallback. */
export function threadOf(content: Record<string, unknown>): { rootId: string; fallingBack: boolean } | null {
  const relates = content["m.relates_to"] as { rel_type?: unknown; event_id?: unknown; is_falling_back?: unknown } | undefined;
  if (relates?.rel_type !== "m.thread" || typeof relates.event_id !== "string") return null;
  return { rootId: relates.event_id, fallingBack: relates.is_falling_back === true };
}
