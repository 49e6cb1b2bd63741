/**
 * Slash commands typed in the composer. `/me waves` sends an emote; `//text` sends "/text" as it is;
 * any other `/word` is an unknown command, which is never sent as a message by accident.
 */

export type ComposerInput =
  | { kind: "message"; msgtype: "m.text" | "m.emote"; body: string }
  | { kind: "problem"; text: string }
  | { kind: "empty" };

/** The commands this client knows, with what they do (for the "unknown command" hint). */
export const COMMANDS: Record<string, string> = {
  me: "/me <action>: says what you do, as “* You <action>”",
};

// A command is a slash and a word at the very start: "/me", "/shrug". "/path/to" or "/ hi" are text.
const COMMAND = /^\/([a-z][\w-]*)(?=\s|$)/i;

export function parseComposerInput(text: string): ComposerInput {
  const trimmed = text.trim();
  if (!trimmed) return { kind: "empty" };
  if (trimmed.startsWith("//")) return { kind: "message", msgtype: "m.text", body: trimmed.slice(1) };
  const match = COMMAND.exec(trimmed);
  if (!match) return { kind: "message", msgtype: "m.text", body: trimmed };
  const name = match[1].toLowerCase();
  const rest = trimmed.slice(match[0].length).trim();
  if (name === "me") {
    return rest
      ? { kind: "message", msgtype: "m.emote", body: rest }
      : { kind: "problem", text: "Write what you do after /me, for example “/me waves”." };
  }
  return {
    kind: "problem",
    text: `Unknown command /${match[1]}. Known: /me. To send a message that starts with a slash, begin it with // (“//${match[1]}” sends “/${match[1]}”).`,
  };
}

/** What an emote reads as: "* Alice waves". */
export function emoteText(senderName: string, body: string): string {
  return `* ${senderName} ${body}`;
}
