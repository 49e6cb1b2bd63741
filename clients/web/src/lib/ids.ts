/** Matrix user IDs as people type them. */

const USER_ID = /^@[^\s:]+:[^\s:]+(:\d+)?$/;

export function isUserId(value: string): boolean {
  return USER_ID.test(value.trim());
}

/** The server part of a user ID: "@a:example.org" -> "example.org". */
export function serverOf(userId: string): string {
  return userId.slice(userId.indexOf(":") + 1);
}

/** "bob" or "@bob" -> "@bob:<our server>"; full IDs are kept; anything else is null. */
export function toUserId(input: string, myUserId: string): string | null {
  const value = input.trim();
  if (!value) return null;
  if (isUserId(value)) return value;
  const local = value.replace(/^@/, "");
  if (/^[a-z0-9._=\-/+]+$/i.test(local)) return `@${local.toLowerCase()}:${serverOf(myUserId)}`;
  return null;
}

/** A list typed as "alice, @bob:example.org carol": the IDs, and the parts that are not IDs. */
export function parseUserList(input: string, myUserId: string): { userIds: string[]; invalid: string[] } {
  const userIds: string[] = [];
  const invalid: string[] = [];
  for (const part of input.split(/[\s,;]+/).filter(Boolean)) {
    const id = toUserId(part, myUserId);
    if (id === null) invalid.push(part);
    else if (id !== myUserId && !userIds.includes(id)) userIds.push(id);
  }
  return { userIds, invalid };
}
