import { describe, expect, it } from "vitest";
import { orderVersions, versionLabel } from "./edit-history";

const original = { eventId: "$orig", ts: 1000, body: "Meet at the cafe" };

describe("edit history", () => {
  it("lists the edits newest first and the original last", () => {
    const versions = orderVersions(original, [
      { eventId: "$e1", ts: 2000, body: "Meet at the bakery" },
      { eventId: "$e3", ts: 4000, body: "Meet at noon" },
      { eventId: "$e2", ts: 3000, body: "Meet at the park" },
    ]);
    expect(versions.map((v) => v.eventId)).toEqual(["$e3", "$e2", "$e1", "$orig"]);
    expect(versions.map((v) => v.original)).toEqual([false, false, false, true]);
    expect(versions.map((_, i) => versionLabel(versions, i))).toEqual([
      "Latest (edit 3 of 3)",
      "Edit 2 of 3",
      "Edit 1 of 3",
      "Original",
    ]);
  });

  it("keeps the original last even when an edit claims an older time, and breaks ties by server order", () => {
    const versions = orderVersions(original, [
      { eventId: "$early", ts: 500, body: "clock skew" },
      { eventId: "$a", ts: 2000, body: "first of two at the same ms" },
      { eventId: "$b", ts: 2000, body: "second of two" },
    ]);
    expect(versions.map((v) => v.eventId)).toEqual(["$b", "$a", "$early", "$orig"]);
  });

  it("drops duplicates and the original appearing among the edits", () => {
    const versions = orderVersions(original, [
      { eventId: "$e1", ts: 2000, body: "x" },
      { eventId: "$e1", ts: 2000, body: "x" },
      { eventId: "$orig", ts: 1000, body: "Meet at the cafe" },
    ]);
    expect(versions.map((v) => v.eventId)).toEqual(["$e1", "$orig"]);
  });

  it("is only the original when there are no edits", () => {
    const versions = orderVersions(original, []);
    expect(versions).toEqual([{ ...original, original: true }]);
    expect(versionLabel(versions, 0)).toBe("Original");
  });
});
