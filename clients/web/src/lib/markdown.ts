/**
 * A small Markdown subset for the composer: **bold**, *italic* / _italic_, ~~strike~~, `code`, fenced
 * code blocks, [links](https://...) and bare http(s) links. The text is HTML-escaped FIRST and only our own
 * tags are added afterwards, so the result is safe to send as `formatted_body` whatever the user typed.
 */

export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

const SAFE_URL = /^(https?:\/\/|mailto:)/i;
// A private-use character cannot be typed by accident; it marks pieces already turned into HTML.
const MARK = "\uE000";

function inline(escaped: string): string {
  const done: string[] = [];
  const keep = (html: string) => `${MARK}${done.push(html) - 1}${MARK}`;
  let s = escaped
    .replace(/`([^`\n]+)`/g, (_m, code: string) => keep(`<code>${code}</code>`))
    .replace(/\[([^\]\n]+)\]\(([^)\s]+)\)/g, (m, text: string, url: string) =>
      SAFE_URL.test(url) ? keep(`<a href="${url}">${text}</a>`) : m,
    )
    .replace(/\bhttps?:\/\/[^\s<]*[^\s<.,;:!?)'\]]/g, (url) => keep(`<a href="${url}">${url}</a>`));
  s = s
    .replace(/\*\*(?=\S)([^*\n]*?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^\w])__(?=\S)([^_\n]*?\S)__(?!\w)/g, "$1<strong>$2</strong>")
    .replace(/~~(?=\S)([^~\n]*?\S)~~/g, "<del>$1</del>")
    .replace(/(^|[^*\w])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?!\*)/g, "$1<em>$2</em>")
    .replace(/(^|[^\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?!\w)/g, "$1<em>$2</em>");
  return s.replace(new RegExp(`${MARK}(\\d+)${MARK}`, "g"), (_m, i: string) => done[Number(i)]);
}

/** The HTML for `text`, or null when it has no formatting (then only a plain `body` is sent). */
export function markdownToHtml(text: string): string | null {
  const parts: string[] = [];
  const fence = /^```([\w+-]*)[ \t]*\n([\s\S]*?)\n```[ \t]*$/gm;
  let last = 0;
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    if (m.index > last) parts.push(inline(escapeHtml(text.slice(last, m.index).replace(/\n$/, ""))).replace(/\n/g, "<br>"));
    const lang = m[1] ? ` class="language-${m[1]}"` : "";
    parts.push(`<pre><code${lang}>${escapeHtml(m[2])}</code></pre>`);
    last = m.index + m[0].length;
  }
  if (last < text.length) {
    parts.push(inline(escapeHtml(text.slice(last).replace(/^\n/, last ? "" : "\n"))).replace(/\n/g, "<br>"));
  }
  const html = parts.join("");
  return html === escapeHtml(text).replace(/\n/g, "<br>") ? null : html;
}
