import { describe, expect, it } from "vitest";
import {
  aggregateReactions,
  editContent,
  reactedLabel,
  reactionContent,
  replyContent,
  replyTarget,
  stripHtmlReplyFallback,
  stripReplyFallback,
  textContent,
  typingLabel,
} from "./relations";

const ME = "@me:hs";

describe("message content", () => {
  it("sends plain text without format, Markdown with sanitized HTML", async () => {
    expect(await textContent("hi")).toEqual({ msgtype: "m.text", body: "hi" });
    expect(await textContent("**hi** <b>")).toEqual({
      msgtype: "m.text",
      body: "**hi** <b>",
      format: "org.matrix.custom.html",
      formatted_body: "<strong>hi</strong> &lt;b&gt;",
    });
  });

  it("builds a rich reply that mentions the other sender only", async () => {
    expect(await replyContent("yes", { eventId: "$orig", sender: "@bob:hs" }, ME)).toEqual({
      msgtype: "m.text",
      body: "yes",
      "m.mentions": { user_ids: ["@bob:hs"] },
      "m.relates_to": { "m.in_reply_to": { event_id: "$orig" } },
    });
    expect((await replyContent("note", { eventId: "$o", sender: ME }, ME))["m.mentions"]).toEqual({ user_ids: [] });
    expect(replyTarget(await replyContent("x", { eventId: "$o", sender: ME }, ME))).toBe("$o");
    expect(replyTarget({ body: "x" })).toBeNull();
    expect(replyTarget({ "m.relates_to": { "m.in_reply_to": { event_id: 5 } } })).toBeNull();
  });

  it("builds an edit with m.new_content and a fallback body", async () => {
    expect(await editContent("$orig", "fixed")).toEqual({
      msgtype: "m.text",
      body: "* fixed",
      "m.new_content": { msgtype: "m.text", body: "fixed", "m.mentions": {} },
      "m.mentions": {},
      "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
    });
    const formatted = await editContent("$orig", "*now* better");
    expect(formatted.formatted_body).toBe("* <em>now</em> better");
    expect(formatted["m.new_content"]?.formatted_body).toBe("<em>now</em> better");
    expect(formatted["m.new_content"]?.["m.relates_to"]).toBeUndefined();
  });

  it("keeps block Markdown in replies and edits", async () => {
    const reply = await replyContent("- a\n- b", { eventId: "$o", sender: "@bob:hs" }, ME);
    expect(reply).toMatchObject({ body: "- a\n- b", format: "org.matrix.custom.html", formatted_body: "<ul>\n<li>a</li>\n<li>b</li>\n</ul>" });
    expect(reply["m.relates_to"]).toEqual({ "m.in_reply_to": { event_id: "$o" } });
    const edit = await editContent("$orig", "> quoted");
    expect(edit["m.new_content"]).toMatchObject({ format: "org.matrix.custom.html", formatted_body: "<blockquote>\n<p>quoted</p>\n</blockquote>" });
    expect(edit.formatted_body).toBe("* <blockquote>\n<p>quoted</p>\n</blockquote>");
  });

  it("builds a reaction annotation", () => {
    expect(reactionContent("$e", "👍")).toEqual({ "m.relates_to": { rel_type: "m.annotation", event_id: "$e", key: "👍" } });
  });
});

describe("reply fallbacks", () => {
  it("strips leading quote lines and the blank line after them", () => {
    expect(stripReplyFallback("> <@bob:hs> original\n> more\n\nmy answer\n> not a fallback")).toBe("my answer\n> not a fallback");
    expect(stripReplyFallback("no fallback")).toBe("no fallback");
    expect(stripReplyFallback(">not quite")).toBe(">not quite");
  });

  it("strips a leading mx-reply element", () => {
    expect(stripHtmlReplyFallback("<mx-reply><blockquote>q</blockquote></mx-reply>answer")).toBe("answer");
    expect(stripHtmlReplyFallback("answer <mx-reply>x</mx-reply>")).toBe("answer <mx-reply>x</mx-reply>");
  });
});

describe("aggregateReactions", () => {
  it("counts each user once per key, keeps first-use order and finds our own event", () => {
    const summary = aggregateReactions(
      [
        { key: "👍", sender: "@bob:hs", eventId: "$1" },
        { key: "🎉", sender: ME, eventId: "$2" },
        { key: "👍", sender: ME, eventId: "$3" },
        { key: "👍", sender: "@bob:hs", eventId: "$4" },
        { key: "", sender: "@bob:hs", eventId: "$5" },
      ],
      ME,
    );
    expect(summary).toEqual([
      { key: "👍", count: 2, ownEventId: "$3", senders: ["@bob:hs", ME] },
      { key: "🎉", count: 1, ownEventId: "$2", senders: [ME] },
    ]);
    expect(aggregateReactions([{ key: "👍", sender: "@bob:hs", eventId: "$1" }], ME)[0].ownEventId).toBeNull();
  });

  it("says who reacted and who is typing", () => {
    expect(reactedLabel(["Alice"], "👍")).toBe("Alice reacted with 👍");
    expect(reactedLabel(["A", "B", "C", "D", "E"], "👍")).toBe("A, B and 3 others reacted with 👍");
    expect(typingLabel([])).toBeNull();
    expect(typingLabel(["Alice"])).toBe("Alice is typing…");
    expect(typingLabel(["Alice", "Bob"])).toBe("Alice and Bob are typing…");
  });
});
