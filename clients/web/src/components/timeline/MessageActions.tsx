import type { KeyboardEvent } from "react";
import { cn } from "@/lib/cn";
import type { TimelineMessage } from "@/lib/timeline";
import { EditIcon, ReplyIcon, SmileIcon, ThreadIcon, TrashIcon } from "./icons";

/** The six reactions offered on every message before opening the full picker. */
export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

const actionClass =
  "flex h-8 min-w-8 items-center justify-center rounded-md px-1 text-fg-muted hover:bg-muted hover:text-fg " +
  "focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring";

/** Left/Right arrows (and Home/End) move between the toolbar's buttons, as the ARIA toolbar pattern says. */
function moveFocus(e: KeyboardEvent<HTMLDivElement>) {
  const buttons = [...e.currentTarget.querySelectorAll<HTMLButtonElement>("button")];
  const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
  const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: buttons.length - 1 }[e.key];
  if (at < 0 || next === undefined) return;
  e.preventDefault();
  buttons[(next + buttons.length) % buttons.length]?.focus();
}

/**
 * The toolbar shown on hover or keyboard focus of a message (and on tap, which focuses the message).
 * Its buttons stay in the tab order, so keyboard users reach them right after the message.
 */
export function MessageActions({
  message,
  onReact,
  onMoreReactions,
  onReply,
  onReplyInThread,
  onEdit,
  onDelete,
}: {
  message: TimelineMessage;
  onReact(key: string): void;
  onMoreReactions(): void;
  onReply(): void;
  /** Opens the message's thread (a new one when it has none); absent inside the thread panel. */
  onReplyInThread?(): void;
  onEdit(): void;
  onDelete(): void;
}) {
  const ownReactions = new Set((message.reactions ?? []).filter((r) => r.ownEventId).map((r) => r.key));
  return (
    <div
      role="toolbar"
      aria-label="Message actions"
      onKeyDown={moveFocus}
      className={cn(
        "absolute -top-4 z-10 flex items-center gap-0.5 rounded-lg border border-border bg-bg p-0.5 shadow-md",
        "pointer-events-none opacity-0 transition-opacity",
        "group-hover:pointer-events-auto group-hover:opacity-100 group-focus-within:pointer-events-auto group-focus-within:opacity-100",
        // At the row's end, as in most chat apps: it never hides the sender's name.
        "right-2",
      )}
    >
      {QUICK_REACTIONS.map((key) => (
        <button
          key={key}
          type="button"
          className={cn(actionClass, "text-lg", ownReactions.has(key) && "bg-accent/15")}
          aria-label={`React with ${key}`}
          aria-pressed={ownReactions.has(key)}
          title={`React with ${key}`}
          onClick={() => onReact(key)}
        >
          {key}
        </button>
      ))}
      <button type="button" className={actionClass} aria-label="More reactions" title="More reactions" onClick={onMoreReactions}>
        <SmileIcon />
      </button>
      <span className="mx-0.5 h-5 w-px bg-border" aria-hidden="true" />
      {onReplyInThread && !message.notice && (
        <button type="button" className={actionClass} aria-label="Reply in thread" title="Reply in thread" onClick={onReplyInThread}>
          <ThreadIcon />
        </button>
      )}
      <button type="button" className={actionClass} aria-label="Reply" title="Reply" onClick={onReply}>
        <ReplyIcon />
      </button>
      {message.editable && (
        <button type="button" className={actionClass} aria-label="Edit" title="Edit" onClick={onEdit}>
          <EditIcon />
        </button>
      )}
      {message.own && message.sendState === "sent" && (
        <button type="button" className={cn(actionClass, "hover:text-danger")} aria-label="Delete" title="Delete" onClick={onDelete}>
          <TrashIcon />
        </button>
      )}
    </div>
  );
}
