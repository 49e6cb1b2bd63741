/** Searching messages: the local part (for encrypted rooms, whose text the server cannot read). */

export interface SearchableMessage {
  eventId: string;
  roomId: string;
  sender: string;
  senderName: string;
  ts: number;
  body: string;
}

export interface SearchHit extends SearchableMessage {
  /** Where the match is in `body`, for highlighting. */
  start: number;
  length: number;
  /** "server" (the server's /search) or "local" (what this device decrypted). */
  source: "server" | "local";
}

/** Lower-cased and without accents, so "cafe" finds "Café". */
export function normalizeForSearch(text: string): string {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

/** Words of the query; every one must appear in the message (in any order). */
export function searchTerms(query: string): string[] {
  return normalizeForSearch(query)
    .split(/\s+/)
    .filter((w) => w.length > 0);
}

/** The local search: every term must occur; newest first. The first term's position is kept for highlighting. */
export function searchLocally(messages: SearchableMessage[], query: string, limit = 50): SearchHit[] {
  const terms = searchTerms(query);
  if (terms.length === 0) return [];
  const hits: SearchHit[] = [];
  for (const message of messages) {
    const haystack = normalizeForSearch(message.body);
    if (!terms.every((t) => haystack.includes(t))) continue;
    // NFD normalization can change lengths (é -> e + accent): find the match in the original text if possible.
    const direct = message.body.toLowerCase().indexOf(terms[0]);
    hits.push({
      ...message,
      start: direct >= 0 ? direct : 0,
      length: direct >= 0 ? terms[0].length : 0,
      source: "local",
    });
  }
  hits.sort((a, b) => b.ts - a.ts);
  return hits.slice(0, limit);
}

/** Server and local hits together, newest first, each event once. */
export function mergeHits(...lists: SearchHit[][]): SearchHit[] {
  const seen = new Set<string>();
  const out: SearchHit[] = [];
  for (const hit of lists.flat().sort((a, b) => b.ts - a.ts)) {
    if (seen.has(hit.eventId)) continue;
    seen.add(hit.eventId);
    out.push(hit);
  }
  return out;
}

/** The text split around the match, for <mark>. */
export function highlightParts(hit: Pick<SearchHit, "body" | "start" | "length">): [string, string, string] {
  if (hit.length <= 0) return [hit.body, "", ""];
  return [hit.body.slice(0, hit.start), hit.body.slice(hit.start, hit.start + hit.length), hit.body.slice(hit.start + hit.length)];
}

/** What the UI says about where it searched. */
export function searchScopeNote(encryptedRooms: number, localMessages: number): string | null {
  if (encryptedRooms === 0) return null;
  const rooms = encryptedRooms === 1 ? "1 encrypted conversation" : `${encryptedRooms} encrypted conversations`;
  const pronoun = encryptedRooms === 1 ? "it was" : "they were";
  return (
    `The server cannot read ${rooms}: ${pronoun} searched on this device only, in the ${localMessages} ` +
    `message${localMessages === 1 ? "" : "s"} it has loaded and decrypted. Scroll up in a conversation to load more.`
  );
}
