import { describe, expect, it } from "vitest";
import { sanitizeNodes, type HtmlNodeLike } from "./html";

const text = (t: string): HtmlNodeLike => ({ nodeType: 3, nodeName: "#text", textContent: t, childNodes: [] });
const el = (name: string, attrs: Record<string, string>, ...children: HtmlNodeLike[]): HtmlNodeLike => ({
  nodeType: 1,
  nodeName: name.toUpperCase(),
  textContent: children.map((c) => c.textContent).join(""),
  childNodes: children,
  getAttribute: (n) => attrs[n] ?? null,
});

describe("sanitizeNodes", () => {
  it("keeps allowed formatting and drops every attribute it does not know", () => {
    expect(sanitizeNodes([el("b", { onclick: "x()", style: "color:red" }, text("hi"))])).toEqual([
      { tag: "b", attrs: {}, children: ["hi"] },
    ]);
  });

  it("drops scripts, styles and the reply fallback with their content", () => {
    const nodes = [el("mx-reply", {}, text("quoted")), el("script", {}, text("alert(1)")), el("style", {}, text("*{}")), text("reply")];
    expect(sanitizeNodes(nodes)).toEqual(["reply"]);
  });

  it("unwraps unknown tags but keeps their text (no images, no iframes)", () => {
    expect(sanitizeNodes([el("font", { color: "red" }, text("a"), el("img", { src: "http://x/y.png" }))])).toEqual(["a"]);
    expect(sanitizeNodes([el("iframe", { src: "https://evil" }, text("x"))])).toEqual([]);
  });

  it("keeps only http(s) and mailto links", () => {
    expect(sanitizeNodes([el("a", { href: "javascript:alert(1)" }, text("x"))])).toEqual([{ tag: "a", attrs: {}, children: ["x"] }]);
    expect(sanitizeNodes([el("a", { href: " https://ok.org" }, text("x"))])).toEqual([
      { tag: "a", attrs: { href: "https://ok.org" }, children: ["x"] },
    ]);
  });

  it("keeps a code language class but no other class", () => {
    expect(sanitizeNodes([el("code", { class: "language-ts" }, text("1"))])).toEqual([
      { tag: "code", attrs: { className: "language-ts" }, children: ["1"] },
    ]);
    expect(sanitizeNodes([el("code", { class: "x y" }, text("1"))])).toEqual([{ tag: "code", attrs: {}, children: ["1"] }]);
  });

  it("keeps data-mx-spoiler (with its reason, maybe empty) on span only", () => {
    expect(sanitizeNodes([el("span", { "data-mx-spoiler": "", onclick: "x()" }, text("secret"))])).toEqual([
      { tag: "span", attrs: { "data-mx-spoiler": "" }, children: ["secret"] },
    ]);
    expect(sanitizeNodes([el("span", { "data-mx-spoiler": "the end" }, text("s"))])).toEqual([
      { tag: "span", attrs: { "data-mx-spoiler": "the end" }, children: ["s"] },
    ]);
    expect(sanitizeNodes([el("span", {}, text("s"))])).toEqual([{ tag: "span", attrs: {}, children: ["s"] }]);
    expect(sanitizeNodes([el("div", { "data-mx-spoiler": "" }, text("s"))])).toEqual([{ tag: "div", attrs: {}, children: ["s"] }]);
    const long = sanitizeNodes([el("span", { "data-mx-spoiler": "r".repeat(5000) }, text("s"))])[0] as { attrs: Record<string, string> };
    expect(long.attrs["data-mx-spoiler"]).toHaveLength(200);
  });

  it("flattens absurdly deep nesting to text", () => {
    let node = text("deep");
    for (let i = 0; i < 200; i++) node = el("span", {}, node);
    const flat = JSON.stringify(sanitizeNodes([node]));
    expect(flat).toContain("deep");
    expect(flat.split('"span"').length - 1).toBe(50);
  });
});
