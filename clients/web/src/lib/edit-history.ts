/** The versions of an edited message, for the "(edited)" dialog: newest first, the original last. */

export interface MessageVersion {
  /** The edit event (or the original message) this version comes from. */
  eventId: string;
  ts: number;
  body: string;
  html?: string;
  original: boolean;
  /** Set when this version could not be decrypted: why. */
  problem?: string;
}

/**
 * Orders the versions: newest edit first by server time (ties: the later event in the list, which is
 * the server's order), the original last whatever its timestamp. Edits by someone other than the
 * original sender are not versions (the spec says to ignore them) and are left out by the caller.
 */
export function orderVersions(original: Omit<MessageVersion, "original">, edits: Omit<MessageVersion, "original">[]): MessageVersion[] {
  const seen = new Set<string>([original.eventId]);
  const unique = edits.filter((e) => !seen.has(e.eventId) && (seen.add(e.eventId), true));
  const sorted = unique
    .map((edit, index) => ({ edit, index }))
    .sort((a, b) => b.edit.ts - a.edit.ts || b.index - a.index)
    .map(({ edit }) => ({ ...edit, original: false }));
  return [...sorted, { ...original, original: true }];
}

/** The label of one version: "Original" or "Edit 2 of 3" (newest has the highest number). */
export function versionLabel(versions: MessageVersion[], index: number): string {
  const version = versions[index];
  if (version.original) return "Original";
  const edits = versions.filter((v) => !v.original).length;
  return index === 0 ? `Latest (edit ${edits} of ${edits})` : `Edit ${edits - index} of ${edits}`;
}
