import { createElement, useMemo, type ReactNode } from "react";
import { sanitizeNodes, type SafeNode } from "@/lib/html";

/**
 * Received HTML, drawn safely: DOMParser gives an inert tree, the allow-list sanitizer keeps only
 * harmless tags and attributes, and React creates the elements (no innerHTML of untrusted input).
 */
export function FormattedBody({ html }: { html: string }) {
  const nodes = useMemo(() => {
    const doc = new DOMParser().parseFromString(html, "text/html");
    return sanitizeNodes(doc.body.childNodes as unknown as ArrayLike<Node & { getAttribute?(n: string): string | null }>);
  }, [html]);
  return <>{nodes.map(render)}</>;
}

const STYLES: Record<string, string> = {
  a: "underline underline-offset-2",
  code: "rounded bg-black/10 px-1 font-mono text-[0.9em] dark:bg-white/10",
  pre: "my-1 overflow-x-auto rounded-lg bg-black/10 p-2 font-mono text-[0.85em] dark:bg-white/10 [&>code]:bg-transparent [&>code]:p-0",
  blockquote: "my-1 border-l-4 border-current/30 pl-2 opacity-90",
  ul: "my-1 list-disc pl-5",
  ol: "my-1 list-decimal pl-5",
  p: "my-1 first:mt-0 last:mb-0",
};

function render(node: SafeNode, key: number): ReactNode {
  if (typeof node === "string") return node;
  const props: Record<string, unknown> = { key, ...node.attrs };
  if (STYLES[node.tag]) props.className = [STYLES[node.tag], node.attrs.className].filter(Boolean).join(" ");
  if (node.tag === "a") {
    props.target = "_blank";
    props.rel = "noreferrer noopener";
  }
  if (node.tag === "br" || node.tag === "hr") return createElement(node.tag, props);
  return createElement(node.tag, props, ...node.children.map(render));
}
