import { describe, expect, it } from "vitest";
import { threadContent } from "./relations";
import { repliesLabel, threadOf, threadReplyCount } from "./threads";

const ME = "@me:hs";

describe("thread reply count", () => {
  it("counts the loaded replies when the server sent no bundle", () => {
    expect(threadReplyCount(null, [])).toBe(0);
    expect(threadReplyCount(null, ["$a", "$b"])).toBe(2);
  });

  it("adds the replies that arrived after the bundle's latest one", () => {
    expect(threadReplyCount({ count: 7, latestEventId: "$g" }, ["$f", "$g"])).toBe(7);
    expect(threadReplyCount({ count: 7, latestEventId: "$g" }, ["$f", "$g", "$h", "$i"])).toBe(9);
  });

  it("takes the larger count when the bundle's latest reply is not loaded", () => {
    expect(threadReplyCount({ count: 7, latestEventId: "$gone" }, ["$a", "$b"])).toBe(7);
    expect(threadReplyCount({ count: 1 }, ["$a", "$b", "$c"])).toBe(3);
  });

  it("says reply or replies", () => {
    expect(repliesLabel(1)).toBe("1 reply");
    expect(repliesLabel(3)).toBe("3 replies");
  });
});

describe("thread content", () => {
  it("relates to the root with the rich-reply fallback to the thread's latest message", async () => {
    expect(await threadContent("hi", { rootId: "$root", latestEventId: "$last" }, ME)).toEqual({
      msgtype: "m.text",
      body: "hi",
      "m.mentions": { user_ids: [] },
      "m.relates_to": {
        rel_type: "m.thread",
        event_id: "$root",
        is_falling_back: true,
        "m.in_reply_to": { event_id: "$last" },
      },
    });
  });

  it("is a real reply inside the thread when one is given: no fallback flag, the sender mentioned", async () => {
    const content = await threadContent("yes", { rootId: "$root", latestEventId: "$last", replyTo: { eventId: "$q", sender: "@bob:hs" } }, ME);
    expect(content["m.relates_to"]).toEqual({ rel_type: "m.thread", event_id: "$root", is_falling_back: false, "m.in_reply_to": { event_id: "$q" } });
    expect(content["m.mentions"]).toEqual({ user_ids: ["@bob:hs"] });
  });

  it("can be an emote with Markdown", async () => {
    const content = await threadContent("waves **hard**", { rootId: "$r", latestEventId: "$r" }, ME, "m.emote");
    expect(content).toMatchObject({ msgtype: "m.emote", formatted_body: "waves <strong>hard</strong>" });
  });

  it("is read back with its root and whether the reply part is a fallback", async () => {
    expect(threadOf(await threadContent("x", { rootId: "$root", latestEventId: "$l" }, ME))).toEqual({ rootId: "$root", fallingBack: true });
    expect(threadOf({ "m.relates_to": { rel_type: "m.thread", event_id: "$r" } })).toEqual({ rootId: "$r", fallingBack: false });
    expect(threadOf({ "m.relates_to": { rel_type: "m.replace", event_id: "$r" } })).toBeNull();
    expect(threadOf({ body: "x" })).toBeNull();
  });
});
