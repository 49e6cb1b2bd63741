import { describe, expect, it } from "vitest";
import { EMOJI_CATEGORIES, searchEmoji } from "./emoji-data";

describe("emoji data", () => {
  it("parses every entry into an emoji and a name", () => {
    const all = EMOJI_CATEGORIES.flatMap((c) => c.emoji);
    expect(all.length).toBeGreaterThan(250);
    for (const e of all) {
      expect(e.emoji).toMatch(/\p{Extended_Pictographic}/u);
      expect(e.name).toMatch(/^[a-z0-9+\- ]+$/);
    }
    expect(new Set(all.map((e) => e.emoji)).size).toBe(all.length);
  });

  it("finds emoji by word starts", () => {
    expect(searchEmoji("thumbs up").map((e) => e.emoji)).toEqual(["👍"]);
    expect(searchEmoji("heart").length).toBeGreaterThan(10);
    expect(searchEmoji("tada").map((e) => e.emoji)).toEqual(["🎉"]);
    expect(searchEmoji("zzzzqq")).toEqual([]);
    expect(searchEmoji("  ").length).toBe(EMOJI_CATEGORIES.flatMap((c) => c.emoji).length);
  });
});
