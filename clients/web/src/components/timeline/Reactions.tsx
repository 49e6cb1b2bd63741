import { useId } from "react";
import { cn } from "@/lib/cn";
import { reactedLabel, type ReactionSummary } from "@/lib/relations";
import { SmileIcon } from "./icons";

/** Reaction chips under a message: count, ours highlighted (click toggles), who reacted on hover/focus. */
export function Reactions({
  reactions,
  own,
  onToggle,
  onAdd,
}: {
  reactions: ReactionSummary[];
  own: boolean;
  onToggle(reaction: ReactionSummary): void;
  onAdd(): void;
}) {
  return (
    <ul className={cn("mt-1 flex flex-wrap gap-1", own && "justify-end")} aria-label="Reactions">
      {reactions.map((r) => (
        <li key={r.key}>
          <ReactionChip reaction={r} onToggle={() => onToggle(r)} />
        </li>
      ))}
      <li>
        <button
          type="button"
          onClick={onAdd}
          aria-label="Add reaction"
          title="Add reaction"
          className="flex h-7 items-center rounded-full border border-border px-2 text-fg-muted hover:bg-muted focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
        >
          <SmileIcon />
        </button>
      </li>
    </ul>
  );
}

function ReactionChip({ reaction, onToggle }: { reaction: ReactionSummary; onToggle(): void }) {
  const tipId = useId();
  const mine = reaction.ownEventId !== null;
  const label = reactedLabel(reaction.names ?? reaction.senders, reaction.key);
  return (
    <span className="group/chip relative inline-block">
      <button
        type="button"
        onClick={onToggle}
        aria-pressed={mine}
        aria-label={`${reaction.key} ${reaction.count}`}
        aria-describedby={tipId}
        data-reaction={reaction.key}
        className={cn(
          "flex h-7 items-center gap-1 rounded-full border px-2 text-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring",
          mine ? "border-accent bg-accent/15 font-semibold text-fg" : "border-border bg-bg text-fg hover:bg-muted",
        )}
      >
        <span aria-hidden="true">{reaction.key}</span>
        <span data-count>{reaction.count}</span>
      </button>
      <span
        id={tipId}
        role="tooltip"
        className="pointer-events-none absolute bottom-full left-1/2 z-20 mb-1 hidden w-max max-w-56 -translate-x-1/2 rounded-md bg-fg px-2 py-1 text-xs text-bg shadow group-hover/chip:block group-focus-within/chip:block"
      >
        {label}
      </span>
    </span>
  );
}
