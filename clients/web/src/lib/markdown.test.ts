import { describe, expect, it } from "vitest";
import { escapeHtml, markdownToHtml } from "./markdown";

describe("markdownToHtml", () => {
  it("returns null for plain text, even with characters that need escaping", () => {
    expect(markdownToHtml("hello there")).toBeNull();
    expect(markdownToHtml("a < b & c > d")).toBeNull();
    expect(markdownToHtml("snake_case_name and 2*3*4")).toBeNull();
  });

  it("formats bold, italic, strike and inline code", () => {
    expect(markdownToHtml("**bold** and *it* and _also_ ~~gone~~")).toBe(
      "<strong>bold</strong> and <em>it</em> and <em>also</em> <del>gone</del>",
    );
    expect(markdownToHtml("run `ls **not bold**`")).toBe("run <code>ls **not bold**</code>");
  });

  it("escapes HTML typed by the user, also inside formatting", () => {
    expect(markdownToHtml("**<script>alert(1)</script>**")).toBe("<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>");
    expect(markdownToHtml("`<b>`")).toBe("<code>&lt;b&gt;</code>");
  });

  it("makes links only for safe schemes", () => {
    expect(markdownToHtml("[docs](https://example.org/a_b_c)")).toBe('<a href="https://example.org/a_b_c">docs</a>');
    expect(markdownToHtml("[x](javascript:alert(1))")).toBeNull();
    expect(markdownToHtml("see https://example.org/x_y_z.")).toBe('see <a href="https://example.org/x_y_z">https://example.org/x_y_z</a>.');
    expect(markdownToHtml('[x](https://e.org/"onclick=")')).toBe('<a href="https://e.org/&quot;onclick=&quot;">x</a>');
  });

  it("turns fenced blocks into pre/code with the language, untouched inside", () => {
    expect(markdownToHtml("look:\n```js\nconst a = **b** < c;\n```\ndone")).toBe(
      'look:<pre><code class="language-js">const a = **b** &lt; c;</code></pre>done',
    );
  });

  it("keeps line breaks when there is formatting", () => {
    expect(markdownToHtml("**a**\nb")).toBe("<strong>a</strong><br>b");
  });

  it("escapes quotes", () => {
    expect(escapeHtml(`"'&`)).toBe("&quot;&#39;&amp;");
  });
});
