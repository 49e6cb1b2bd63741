/**
 * A strict allow-list sanitizer for received `formatted_body` HTML (org.matrix.custom.html). It walks an
 * already-parsed, inert tree (DOMParser in the browser: no scripts run, nothing loads) and returns plain
 * data that React renders as elements, so untrusted HTML never reaches innerHTML.
 */

/** The parts of a DOM node the sanitizer reads (a DOM Node satisfies it; tests pass plain objects). */
export interface HtmlNodeLike {
  nodeType: number;
  nodeName: string;
  textContent: string | null;
  childNodes: ArrayLike<HtmlNodeLike>;
  getAttribute?(name: string): string | null;
}

export type SafeNode = string | { tag: string; attrs: Record<string, string>; children: SafeNode[] };

const TEXT_NODE = 3;
const ELEMENT_NODE = 1;
const MAX_DEPTH = 50;

const ALLOWED = new Set([
  "b", "strong", "i", "em", "u", "s", "del", "strike", "code", "pre", "a", "p", "br", "blockquote", "ul", "ol",
  "li", "h1", "h2", "h3", "h4", "h5", "h6", "sup", "sub", "hr", "span", "div", "details", "summary", "table",
  "thead", "tbody", "tr", "th", "td", "caption",
]);
/** Dropped together with everything inside (mx-reply is the old reply fallback, shown by us as a quote). */
const DROPPED = new Set(["script", "style", "mx-reply", "iframe", "object", "embed", "template", "head", "title", "svg", "math", "noscript", "textarea", "select", "button", "form", "input"]);
const SAFE_HREF = /^(https?:|mailto:)/i;
export const SPOILER = "data-mx-spoiler";
const MAX_SPOILER_REASON = 200;

function attributesFor(tag: string, node: HtmlNodeLike): Record<string, string> {
  const get = (name: string) => node.getAttribute?.(name) ?? null;
  const attrs: Record<string, string> = {};
  if (tag === "a") {
    const href = get("href")?.trim();
    if (href && SAFE_HREF.test(href)) attrs.href = href;
  } else if (tag === "code") {
    const cls = get("class");
    if (cls && /^language-[\w+-]+$/.test(cls)) attrs.className = cls;
  } else if (tag === "span") {
    // A spoiler (spec "Spoiler messages"): the attribute marks it, its value (maybe empty) is the reason.
    const spoiler = get(SPOILER);
    if (spoiler !== null) attrs[SPOILER] = spoiler.slice(0, MAX_SPOILER_REASON);
  } else if (tag === "ol") {
    const start = get("start");
    if (start && /^\d{1,6}$/.test(start)) attrs.start = start;
  }
  return attrs;
}

export function sanitizeNodes(nodes: ArrayLike<HtmlNodeLike>, depth = 0): SafeNode[] {
  const out: SafeNode[] = [];
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i];
    if (node.nodeType === TEXT_NODE) {
      if (node.textContent) out.push(node.textContent);
      continue;
    }
    if (node.nodeType !== ELEMENT_NODE) continue; // comments, processing instructions
    const tag = node.nodeName.toLowerCase();
    if (DROPPED.has(tag)) continue;
    if (depth >= MAX_DEPTH) {
      if (node.textContent) out.push(node.textContent);
      continue;
    }
    const children = sanitizeNodes(node.childNodes, depth + 1);
    if (ALLOWED.has(tag)) out.push({ tag, attrs: attributesFor(tag, node), children });
    else out.push(...children); // unknown tags: keep their text, lose the tag
  }
  return out;
}
