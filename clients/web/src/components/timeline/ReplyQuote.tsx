import { useEffect, useState } from "react";
import { cn } from "@/lib/cn";
import type { QuotedMessage } from "@/matrix/events";
import * as session from "@/matrix/session";

/** The quote at the top of a reply; activating it jumps to the original message. */
export function ReplyQuote({
  roomId,
  eventId,
  own,
  onJump,
  refresh,
}: {
  roomId: string;
  eventId: string;
  own: boolean;
  onJump(eventId: string): void;
  /** Changes when the timeline changes, so an edited or deleted original is re-read. */
  refresh: unknown;
}) {
  const loaded = session.quotedIfLoaded(roomId, eventId);
  const [fetched, setFetched] = useState<QuotedMessage | null | undefined>(undefined);
  useEffect(() => {
    if (loaded || fetched !== undefined) return;
    let live = true;
    void session.fetchQuoted(roomId, eventId).then((q) => live && setFetched(q));
    return () => {
      live = false;
    };
  }, [roomId, eventId, loaded, fetched, refresh]);
  const quoted = loaded ?? fetched;
  const text = quoted === undefined ? "Loading…" : quoted === null ? "Original message not available" : quoted.body;
  return (
    <button
      type="button"
      onClick={() => onJump(eventId)}
      data-reply-quote={eventId}
      aria-label={`In reply to ${quoted?.senderName ?? "a message"}: ${text}. Show the original message`}
      className={cn(
        "mb-1 block w-full max-w-full rounded-lg border-l-4 px-2 py-1 text-left text-[13px] leading-snug",
        "focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring",
        own ? "border-white/60 bg-white/15 text-own-fg hover:bg-white/25" : "border-accent bg-black/5 hover:bg-black/10 dark:bg-white/5",
      )}
    >
      {quoted && <span className="block text-xs font-semibold">{quoted.senderName}</span>}
      <span className={cn("line-clamp-2 whitespace-pre-wrap break-words", quoted?.deleted && "italic")}>{text}</span>
    </button>
  );
}
