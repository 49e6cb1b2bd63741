/**
 * The composer's Markdown renderer: markdown-it (CommonMark, plus GFM tables and ~~strikethrough~~),
 * loaded lazily through `markdown.ts` so that it stays out of the main bundle.
 *
 * What it emits stays inside the Matrix spec's HTML allow-list (m.room.message, org.matrix.custom.html):
 * raw HTML typed by the user is escaped (`html: false`), images are off (`img` must be mxc:// there),
 * table cells lose markdown-it's `style` alignment, and links are made only for http(s) and mailto.
 */
import MarkdownIt, { type Token } from "markdown-it";

const SAFE_LINK = /^(https?:|mailto:)/i;

const md = new MarkdownIt("default", { html: false, linkify: true, breaks: true, typographer: false, xhtmlOut: false });
md.disable("image");
// Links with a scheme only ("https://x", "mailto:a@b"), and bare e-mail addresses; not "file.py" or "a.io".
md.linkify.set({ fuzzyLink: false, fuzzyEmail: true, fuzzyIP: false });
md.validateLink = (url: string) => SAFE_LINK.test(url.trim());
md.core.ruler.push("matrix_allowed_attributes", (state) => {
  for (const token of state.tokens) {
    if (token.type === "th_open" || token.type === "td_open") token.attrs = null; // style="text-align:…"
    // The code language becomes class="language-…": one plain word, or none.
    if (token.type === "fence") {
      const lang = token.info.trim().split(/\s+/)[0];
      token.info = /^[\w+#.-]+$/.test(lang) ? lang : "";
    }
  }
});

const PLAIN_BLOCKS = new Set(["paragraph_open", "paragraph_close", "inline"]);
const PLAIN_INLINE = new Set(["text", "softbreak"]);

const lines = (s: string) => s.replace(/[ \t]*\n[ \t]*/g, "\n");

/** Text only: paragraphs of unformatted text, nothing escaped or decoded (`\*`, `&amp;`), no links. */
function isPlain(tokens: Token[]): boolean {
  return tokens.every((t) => {
    if (!PLAIN_BLOCKS.has(t.type)) return false;
    if (t.type !== "inline") return true;
    const children = t.children ?? [];
    if (!children.every((c) => PLAIN_INLINE.has(c.type))) return false;
    // Backslash escapes and entities are text too once parsed: plain only if the text is what was typed.
    return children.map((c) => (c.type === "softbreak" ? "\n" : c.content)).join("") === lines(t.content);
  });
}

/**
 * The HTML for the Markdown `text`, or null when it has no formatting (then only a plain `body` is
 * sent). A single paragraph is not wrapped in <p> (the spec asks for no needless tags).
 */
export function renderMarkdown(text: string): string | null {
  const env = {};
  const tokens = md.parse(text, env);
  if (isPlain(tokens)) return null;
  if (tokens.length === 3 && tokens[0].type === "paragraph_open" && tokens[2].type === "paragraph_close") {
    return md.renderer.renderInline(tokens[1].children ?? [], md.options, env);
  }
  return md.renderer.render(tokens, md.options, env).replace(/\n+$/, "");
}
