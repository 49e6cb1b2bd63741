/**
 * The composer's Markdown (CommonMark via markdown-it, see `markdown-render.ts`). The renderer is a
 * separate chunk, loaded on first use (or ahead of it with `preloadMarkdown`), so the main bundle does
 * not carry it.
 */

type Renderer = typeof import("./markdown-render");

let loading: Promise<Renderer> | null = null;

function load(): Promise<Renderer> {
  loading ??= import("./markdown-render").catch((error: unknown) => {
    loading = null; // a failed chunk load is tried again next time
    throw error;
  });
  return loading;
}

/** Starts loading the renderer (e.g. when the composer appears), so the first send does not wait. */
export function preloadMarkdown(): void {
  load().catch((error: unknown) => console.debug("Markdown renderer not loaded yet", error));
}

/**
 * The HTML for `text`, or null when it has no formatting (then only a plain `body` is sent). If the
 * renderer cannot be loaded (offline after an update), the message goes out as plain text.
 */
export async function markdownToHtml(text: string): Promise<string | null> {
  let renderer: Renderer;
  try {
    renderer = await load();
  } catch (error) {
    console.warn("Markdown renderer unavailable: sending plain text", error);
    return null;
  }
  return renderer.renderMarkdown(text);
}
