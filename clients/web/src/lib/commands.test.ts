import { describe, expect, it } from "vitest";
import { emoteText, parseComposerInput } from "./commands";

describe("composer commands", () => {
  it("sends ordinary text as m.text, trimmed", () => {
    expect(parseComposerInput("  hello  ")).toEqual({ kind: "message", msgtype: "m.text", body: "hello" });
    expect(parseComposerInput("   ")).toEqual({ kind: "empty" });
  });

  it("turns /me into an emote, case-insensitively, keeping the Markdown source", () => {
    expect(parseComposerInput("/me waves")).toEqual({ kind: "message", msgtype: "m.emote", body: "waves" });
    expect(parseComposerInput("/ME waves **hard**")).toEqual({ kind: "message", msgtype: "m.emote", body: "waves **hard**" });
    expect(parseComposerInput("/me\nwaves")).toEqual({ kind: "message", msgtype: "m.emote", body: "waves" });
  });

  it("asks for an action after a bare /me", () => {
    expect(parseComposerInput("/me")).toMatchObject({ kind: "problem", text: expect.stringContaining("after /me") });
  });

  it("refuses an unknown command instead of sending it, and says how to send a leading slash", () => {
    const input = parseComposerInput("/shrug oh well");
    expect(input.kind).toBe("problem");
    expect(input.kind === "problem" && input.text).toMatch(/Unknown command \/shrug.*\/\/shrug/);
    expect(parseComposerInput("/mee").kind).toBe("problem"); // not a prefix match of /me
  });

  it("sends // as a message starting with one slash", () => {
    expect(parseComposerInput("//shrug")).toEqual({ kind: "message", msgtype: "m.text", body: "/shrug" });
    expect(parseComposerInput("//me is not an emote")).toEqual({ kind: "message", msgtype: "m.text", body: "/me is not an emote" });
  });

  it("does not take paths or a lone slash for commands", () => {
    expect(parseComposerInput("/usr/bin is full")).toEqual({ kind: "message", msgtype: "m.text", body: "/usr/bin is full" });
    expect(parseComposerInput("/ hi")).toEqual({ kind: "message", msgtype: "m.text", body: "/ hi" });
    expect(parseComposerInput("/")).toEqual({ kind: "message", msgtype: "m.text", body: "/" });
    expect(parseComposerInput("a /me b")).toEqual({ kind: "message", msgtype: "m.text", body: "a /me b" });
  });

  it("writes an emote as '* name action'", () => {
    expect(emoteText("Alice", "waves")).toBe("* Alice waves");
  });
});
