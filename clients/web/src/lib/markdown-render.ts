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

/**
 * markdown-it's block nesting limit: deeper quotes or lists stay unformatted. Keeps the HTML well under
 * the spec's 100 levels (and within the 50 our own sanitizer draws).
 */
const MAX_NESTING = 40;
/**
 * The HTML is left out when body + formatted_body would pass this many UTF-8 bytes: an event (more so
 * an encrypted one, its ciphertext in base64) must stay under 64 KiB, and plain text still gets through.
 */
export const MAX_FORMATTED_BYTES = 32 * 1024;

const md = new MarkdownIt("default", {
  html: false,
  linkify: true,
  breaks: true,
  typographer: false,
  xhtmlOut: false,
  maxNesting: MAX_NESTING,
});
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
 * sent). A single paragraph is not wrapped in <p> (the spec asks for no needless tags). Null as well
 * when the HTML would make the message too big to send (see MAX_FORMATTED_BYTES).
 */
export function renderMarkdown(text: string): string | null {
  const env = {};
  const tokens = md.parse(text, env);
  if (isPlain(tokens)) return null;
  const html =
    tokens.length === 3 && tokens[0].type === "paragraph_open" && tokens[2].type === "paragraph_close"
      ? md.renderer.renderInline(tokens[1].children ?? [], md.options, env)
      : md.renderer.render(tokens, md.options, env).replace(/\n+$/, "");
  const utf8 = new TextEncoder();
  return utf8.encode(text).length + utf8.encode(html).length > MAX_FORMATTED_BYTES ? null : html;
}
