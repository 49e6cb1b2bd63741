import { createElement, useMemo, useState, type ReactNode } from "react";
import { sanitizeNodes, SPOILER, type SafeNode } from "@/lib/html";

/**
 * Received HTML, drawn safely: DOMParser gives an inert tree, the allow-list sanitizer keeps only
 * harmless tags and attributes, and React creates the elements (no innerHTML of untrusted input).
 */
export function FormattedBody({ html }: { html: string }) {
  const nodes = useMemo(() => {
    const doc = new DOMParser().parseFromString(html, "text/html");
    return sanitizeNodes(doc.body.childNodes as unknown as ArrayLike<Node & { getAttribute?(n: string): string | null }>);
  }, [html]);
  return <SafeHtml nodes={nodes} />;
}

/** Sanitized nodes as React elements. */
export function SafeHtml({ nodes }: { nodes: SafeNode[] }) {
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
  h1: "my-1 text-xl font-bold",
  h2: "my-1 text-lg font-bold",
  h3: "my-1 text-base font-bold",
  h4: "my-1 font-semibold",
  h5: "my-1 font-semibold",
  h6: "my-1 font-semibold",
  hr: "my-2 border-current/30",
  table: "my-1 border-collapse",
  th: "border border-current/30 px-2 py-0.5 text-left",
  td: "border border-current/30 px-2 py-0.5",
};

function render(node: SafeNode, key: number): ReactNode {
  if (typeof node === "string") return node;
  if (node.tag === "span" && SPOILER in node.attrs) {
    return (
      <Spoiler key={key} reason={node.attrs[SPOILER]}>
        {node.children.map(render)}
      </Spoiler>
    );
  }
  const props: Record<string, unknown> = { key, ...node.attrs };
  if (STYLES[node.tag]) props.className = [STYLES[node.tag], node.attrs.className].filter(Boolean).join(" ");
  if (node.tag === "a") {
    props.target = "_blank";
    props.rel = "noreferrer noopener";
  }
  if (node.tag === "br" || node.tag === "hr") return createElement(node.tag, props);
  return createElement(node.tag, props, ...node.children.map(render));
}

/**
 * Hidden text (spec "Spoiler messages"): until clicked, only a "Spoiler" button (with the reason, if
 * given) is drawn. The hidden content is not in the page at all, so neither selecting, copying, find
 * in page nor a screen reader gives it away.
 */
export function Spoiler({ reason, children }: { reason: string; children: ReactNode }) {
  const [shown, setShown] = useState(false);
  if (shown) return <span className="rounded bg-black/10 px-0.5 dark:bg-white/10" data-spoiler="shown">{children}</span>;
  const label = reason ? `Spoiler: ${reason}` : "Spoiler";
  return (
    <button
      type="button"
      data-spoiler="hidden"
      title="Show the hidden text"
      aria-label={`${label}. Show the hidden text`}
      onClick={(e) => {
        e.stopPropagation();
        setShown(true);
      }}
      className="mx-0.5 inline rounded bg-black/60 px-1.5 align-baseline text-[0.9em] text-white hover:bg-black/75 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring dark:bg-white/70 dark:text-black dark:hover:bg-white/85"
    >
      {label}
    </button>
  );
}
