import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { sanitizeNodes, type HtmlNodeLike, type SafeNode } from "@/lib/html";
import { SafeHtml } from "./FormattedBody";

const text = (t: string): HtmlNodeLike => ({ nodeType: 3, nodeName: "#text", textContent: t, childNodes: [] });
const el = (name: string, attrs: Record<string, string>, ...children: HtmlNodeLike[]): HtmlNodeLike => ({
  nodeType: 1,
  nodeName: name.toUpperCase(),
  textContent: children.map((c) => c.textContent).join(""),
  childNodes: children,
  getAttribute: (n) => attrs[n] ?? null,
});
const draw = (nodes: SafeNode[]) => renderToStaticMarkup(createElement(SafeHtml, { nodes }));

describe("spoilers", () => {
  it("are drawn hidden: a button, the hidden text nowhere in the page", () => {
    const html = draw(sanitizeNodes([text("Alice "), el("span", { "data-mx-spoiler": "" }, text("lived happily")), text(" in the movie.")]));
    expect(html).toContain("Alice ");
    expect(html).toContain(" in the movie.");
    expect(html).toMatch(/<button[^>]*data-spoiler="hidden"[^>]*>Spoiler<\/button>/);
    expect(html).not.toContain("lived happily");
  });

  it("show their reason, never their content, also when nested formatting hides inside", () => {
    const html = draw(sanitizeNodes([el("span", { "data-mx-spoiler": "health of <Alice>" }, el("b", {}, text("she lives")))]));
    expect(html).toContain("Spoiler: health of &lt;Alice&gt;");
    expect(html).not.toContain("she lives");
    expect(html).not.toContain("<b>");
  });

  it("leave ordinary spans alone", () => {
    expect(draw(sanitizeNodes([el("span", {}, text("seen"))]))).toBe("<span>seen</span>");
  });
});
