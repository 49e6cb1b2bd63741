import { afterEach, describe, expect, it, vi } from "vitest";
import { markdownToHtml } from "./markdown";
import { MAX_FORMATTED_BYTES, renderMarkdown as md } from "./markdown-render";

// The Matrix spec's suggested allow-list for org.matrix.custom.html (img left out: it must be mxc://).
const SPEC_TAGS = new Set(
  "del h1 h2 h3 h4 h5 h6 blockquote p a ul ol sup sub li b i u strong em s code hr br div table thead tbody tr th td caption pre span details summary".split(" "),
);

function tagsOf(html: string): { tag: string; attrs: string }[] {
  return [...html.matchAll(/<\/?([a-z0-9]+)([^>]*)>/g)].map((m) => ({ tag: m[1], attrs: m[2].trim() }));
}

describe("renderMarkdown", () => {
  it("leaves plain text plain (null: only `body` is sent), whatever it contains", () => {
    for (const text of ["hello there", "a < b & c > d", "two\nlines", "two\n\nparagraphs", "snake_case_name", "it's 5 * 3", "file.py, a.io", "<b>not html</b>"]) {
      expect(md(text), text).toBeNull();
    }
  });

  it("formats emphasis, strong, strike and inline code", () => {
    expect(md("**bold** and *it* and _also_ ~~gone~~")).toBe("<strong>bold</strong> and <em>it</em> and <em>also</em> <s>gone</s>");
    expect(md("run `ls **not bold**`")).toBe("run <code>ls **not bold**</code>");
  });

  it("makes lists, with the start number of an ordered one", () => {
    expect(md("- one\n- two")).toBe("<ul>\n<li>one</li>\n<li>two</li>\n</ul>");
    expect(md("3. three\n4. four")).toBe('<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>');
    expect(md("1. a\n   - nested")).toBe("<ol>\n<li>a\n<ul>\n<li>nested</li>\n</ul>\n</li>\n</ol>");
  });

  it("makes quotes and headings", () => {
    expect(md("> quoted\n> **twice**")).toBe("<blockquote>\n<p>quoted<br>\n<strong>twice</strong></p>\n</blockquote>");
    expect(md("# Title\ntext")).toBe("<h1>Title</h1>\n<p>text</p>");
    expect(md("### Small")).toBe("<h3>Small</h3>");
  });

  it("makes fenced code blocks with a language class, nothing formatted or unescaped inside", () => {
    expect(md("look:\n```js\nconst a = **b** < c;\n```")).toBe(
      '<p>look:</p>\n<pre><code class="language-js">const a = **b** &lt; c;\n</code></pre>',
    );
    // A language that is not one plain word gives no class at all.
    expect(md('```js" onclick="x\ny\n```')).toBe("<pre><code>y\n</code></pre>");
  });

  it("keeps parentheses inside links, written and bare", () => {
    expect(md("[Foo](https://en.wikipedia.org/wiki/Foo_(bar))")).toBe('<a href="https://en.wikipedia.org/wiki/Foo_(bar)">Foo</a>');
    expect(md("see https://en.wikipedia.org/wiki/Foo_(bar).")).toBe(
      'see <a href="https://en.wikipedia.org/wiki/Foo_(bar)">https://en.wikipedia.org/wiki/Foo_(bar)</a>.',
    );
    expect(md("(see https://example.org/x)")).toBe('(see <a href="https://example.org/x">https://example.org/x</a>)');
  });

  it("links only http(s) and mailto: javascript:, data:, relative and schemeless links stay text", () => {
    expect(md("[x](javascript:alert(1))")).toBeNull();
    expect(md("[x](JaVaScRiPt:alert(1)) and **b**")).toBe("[x](JaVaScRiPt:alert(1)) and <strong>b</strong>");
    expect(md("<javascript:alert(1)>")).toBeNull();
    expect(md("[x](data:text/html,hi)")).toBeNull();
    expect(md("[x](relative/path) [y](//evil.org)")).toBeNull();
    expect(md("www.example.org")).toBeNull();
    expect(md("[mail](mailto:a@b.org) <https://x.org>")).toBe('<a href="mailto:a@b.org">mail</a> <a href="https://x.org">https://x.org</a>');
    expect(md("write to a@b.org")).toBe('write to <a href="mailto:a@b.org">a@b.org</a>');
    expect(md('[x](https://e.org/"onclick=")')).toBe('<a href="https://e.org/%22onclick=%22">x</a>');
  });

  it("escapes raw HTML typed by the user, also inside formatting", () => {
    expect(md("**<script>alert(1)</script>**")).toBe("<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>");
    expect(md("<img src=x onerror=alert(1)>\n\n- item")).toBe("<p>&lt;img src=x onerror=alert(1)&gt;</p>\n<ul>\n<li>item</li>\n</ul>");
    expect(md("`<b>`")).toBe("<code>&lt;b&gt;</code>");
  });

  it("sends HTML when parsing changed the text (escapes, entities)", () => {
    expect(md("\\*not emphasis\\*")).toBe("*not emphasis*");
    expect(md("&amp; &copy;")).toBe("&amp; ©");
  });

  it("keeps line breaks when there is formatting", () => {
    expect(md("**a**\nb")).toBe("<strong>a</strong><br>\nb");
  });

  it("keeps nesting far below the spec's 100 levels", () => {
    for (const text of [">".repeat(300) + " deep", Array.from({ length: 120 }, (_, i) => `${" ".repeat(i * 2)}- level ${i}`).join("\n")]) {
      let depth = 0;
      let deepest = 0;
      for (const [, close, tag] of md(text)!.matchAll(/<(\/?)([a-z0-9]+)[^>]*>/g)) {
        if (tag === "br" || tag === "hr") continue;
        depth += close ? -1 : 1;
        deepest = Math.max(deepest, depth);
      }
      expect(deepest).toBeLessThanOrEqual(50);
    }
  });

  it("sends no HTML when it would make the message too big; plain text still goes", () => {
    const bold = "**b** ".repeat(4000); // 24 kB typed, 56 kB as HTML
    expect(md(bold)).toBeNull();
    const fits = "**b** ".repeat(1000);
    expect(new TextEncoder().encode(fits + md(fits)!).length).toBeLessThanOrEqual(MAX_FORMATTED_BYTES);
  });

  it("emits only tags and attributes the Matrix spec allows", () => {
    const html = md(
      "# h\n\n> q\n\n1. a\n2. b\n\n- c\n\n| l | r |\n|:--|--:|\n| 1 | 2 |\n\n---\n\n```py\nx\n```\n\n**b** *i* ~~s~~ `c` [l](https://x.org) ![img](https://x.org/i.png)\n<div onclick=x>",
    )!;
    expect(html).not.toBeNull();
    for (const { tag, attrs } of tagsOf(html)) {
      expect(SPEC_TAGS.has(tag), tag).toBe(true);
      if (attrs) expect(`${tag} ${attrs}`).toMatch(/^(a href="https:\/\/x\.org[^"]*"|ol start="\d+"|code class="language-py")$/);
    }
    expect(html).toContain("<table>");
    expect(html).not.toContain("<img");
  });
});

describe("markdownToHtml (lazy)", () => {
  afterEach(() => {
    vi.doUnmock("./markdown-render");
    vi.resetModules();
  });

  it("loads the renderer on first use", async () => {
    expect(await markdownToHtml("- x")).toBe("<ul>\n<li>x</li>\n</ul>");
    expect(await markdownToHtml("plain")).toBeNull();
  });

  it("sends plain text when the renderer chunk cannot be loaded, and tries again next time", async () => {
    vi.resetModules();
    vi.doMock("./markdown-render", () => {
      throw new Error("Failed to fetch dynamically imported module");
    });
    const fresh = await import("./markdown");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(await fresh.markdownToHtml("**b**")).toBeNull();
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
    vi.doUnmock("./markdown-render");
    expect(await fresh.markdownToHtml("**b**")).toBe("<strong>b</strong>");
  });
});
