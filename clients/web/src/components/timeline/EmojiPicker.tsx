/** The full reaction picker. Lazily loaded (with its emoji list) the first time someone opens it. */
import { useMemo, useRef, useState, type KeyboardEvent } from "react";
import { fieldClass } from "@/components/ui/input";
import { EMOJI_CATEGORIES, searchEmoji, type Emoji } from "@/lib/emoji-data";

const COLUMNS = 8;

export default function EmojiPicker({ onPick }: { onPick(emoji: string): void }) {
  const [query, setQuery] = useState("");
  const grid = useRef<HTMLDivElement>(null);
  const sections = useMemo(
    () => (query.trim() ? [{ name: "Results", emoji: searchEmoji(query) }] : EMOJI_CATEGORIES),
    [query],
  );

  // Arrow keys move between emoji (a grid of COLUMNS per row), as in a native picker.
  const onGridKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const buttons = [...(grid.current?.querySelectorAll<HTMLButtonElement>("button[data-emoji]") ?? [])];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (at < 0) return;
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: COLUMNS, ArrowUp: -COLUMNS }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    buttons[Math.max(0, Math.min(buttons.length - 1, at + step))]?.focus();
  };

  return (
    <div className="flex flex-col gap-2">
      <input
        autoFocus
        type="search"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") {
            e.preventDefault();
            grid.current?.querySelector<HTMLButtonElement>("button[data-emoji]")?.focus();
          } else if (e.key === "Enter") {
            const first = sections[0]?.emoji[0];
            if (first) onPick(first.emoji);
          }
        }}
        placeholder="Search emoji"
        aria-label="Search emoji"
        className={fieldClass}
      />
      <div ref={grid} onKeyDown={onGridKey} className="max-h-72 overflow-y-auto pr-1">
        {sections.map((section) => (
          <section key={section.name} aria-label={section.name}>
            <h3 className="sticky top-0 bg-bg py-1 text-xs font-semibold text-fg-muted">{section.name}</h3>
            {section.emoji.length === 0 ? (
              <p className="py-4 text-center text-sm text-fg-muted">No emoji found.</p>
            ) : (
              <div className="grid grid-cols-8 gap-0.5">
                {section.emoji.map((e: Emoji) => (
                  <button
                    key={e.emoji}
                    type="button"
                    data-emoji={e.emoji}
                    title={e.name}
                    aria-label={e.name}
                    onClick={() => onPick(e.emoji)}
                    className="flex h-9 items-center justify-center rounded-md text-xl hover:bg-muted focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
                  >
                    {e.emoji}
                  </button>
                ))}
              </div>
            )}
          </section>
        ))}
      </div>
    </div>
  );
}
