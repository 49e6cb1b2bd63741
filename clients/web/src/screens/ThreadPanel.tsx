/**
 * The thread panel (spec "Threading"): a thread's root and replies, with its own composer whose
 * messages carry the `m.thread` relation. Beside the conversation on a desktop, full screen on a phone.
 */
import { useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { BackIcon } from "@/components/icons";
import { CloseIcon } from "@/components/timeline/icons";
import { Button } from "@/components/ui/button";
import { repliesLabel } from "@/lib/threads";
import { buildRows } from "@/lib/timeline";
import { useThread } from "@/matrix/threads";
import { Composer, draftHandlers, MessageRow, type Draft, type MessageHandlers } from "./Conversation";

export default function ThreadPanel({
  roomId,
  rootId,
  focusId,
  handlers,
  onClose,
}: {
  roomId: string;
  rootId: string;
  /** A reply to scroll to and highlight (from a search result or an "In a thread" link). */
  focusId?: string;
  handlers: MessageHandlers;
  onClose(): void;
}) {
  const thread = useThread(roomId, rootId);
  const [draft, setDraft] = useState<Draft | null>(null);
  const textarea = useRef<HTMLTextAreaElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const pendingFocus = useRef(focusId && focusId !== rootId ? focusId : null);
  const [highlighted, setHighlighted] = useState<string | null>(null);
  const rows = useMemo(() => buildRows(thread.replies), [thread.replies]);

  // Replying or editing here stays in the thread; reactions and deletion are the conversation's.
  const threadHandlers = useMemo<MessageHandlers>(
    () => ({
      ...handlers,
      ...draftHandlers(setDraft, textarea),
      openThread: () => undefined,
    }),
    [handlers],
  );

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const target = pendingFocus.current;
    const row = target ? el.querySelector<HTMLElement>(`[data-event-id="${CSS.escape(target)}"]`) : null;
    if (row && target) {
      pendingFocus.current = null;
      stickToBottom.current = false;
      row.scrollIntoView({ block: "center" });
      setHighlighted(target);
      setTimeout(() => setHighlighted((h) => (h === target ? null : h)), 2500);
    } else if (stickToBottom.current && !target) {
      el.scrollTop = el.scrollHeight;
    }
  }, [rows, thread.root]);

  const onScroll = () => {
    const el = scroller.current;
    if (el) stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === "Escape" && !draft && !e.defaultPrevented) {
      e.preventDefault();
      onClose();
    }
  };

  return (
    <aside
      aria-label="Thread"
      data-thread-panel={rootId}
      onKeyDown={onKeyDown}
      className="fixed inset-0 z-30 flex flex-col bg-bg md:static md:z-auto md:w-96 md:shrink-0 md:border-l md:border-border lg:w-[26rem]"
    >
      <header className="flex items-center gap-2 border-b border-border px-3 py-2">
        <Button variant="ghost" size="icon" className="md:hidden" aria-label="Back to conversation" onClick={onClose}>
          <BackIcon />
        </Button>
        <h2 className="min-w-0 flex-1 truncate font-semibold">Thread</h2>
        <span className="hidden md:block">
          <Button variant="ghost" size="icon" aria-label="Close thread" onClick={onClose}>
            <CloseIcon />
          </Button>
        </span>
      </header>
      <div ref={scroller} onScroll={onScroll} className="min-h-0 flex-1 overflow-y-auto overflow-x-hidden px-3 py-2" role="log" aria-label="Thread messages" aria-live="polite">
        {thread.problem && (
          <p role="alert" className="py-2 text-sm text-danger">
            {thread.problem}
          </p>
        )}
        <ol>
          {thread.root ? (
            <MessageRow
              roomId={roomId}
              message={thread.root}
              first
              last
              unreadFromHere={false}
              highlighted={highlighted === rootId}
              handlers={threadHandlers}
              onJump={() => undefined}
              version={thread.replies}
              inThread
            />
          ) : (
            !thread.problem && <li className="py-2 text-center text-xs text-fg-muted">Loading the thread…</li>
          )}
          <li role="separator" className="my-3 flex items-center gap-3 text-xs font-medium text-fg-muted" data-thread-count={thread.replies.length}>
            <span className="h-px flex-1 bg-border" />
            {thread.loading ? "Loading replies…" : repliesLabel(thread.replies.filter((m) => m.sendState === "sent").length)}
            <span className="h-px flex-1 bg-border" />
          </li>
          {rows.map((row) =>
            row.kind === "day" ? null : (
              <MessageRow
                key={row.key}
                roomId={roomId}
                message={row.message}
                first={row.firstInGroup}
                last={row.lastInGroup}
                unreadFromHere={false}
                highlighted={row.message.eventId === highlighted}
                handlers={threadHandlers}
                onJump={(eventId) => {
                  const el = scroller.current?.querySelector<HTMLElement>(`[data-event-id="${CSS.escape(eventId)}"]`);
                  el?.scrollIntoView({ block: "center" });
                  if (el) setHighlighted(eventId);
                }}
                version={thread.replies}
                inThread
              />
            ),
          )}
        </ol>
      </div>
      <Composer
        roomId={roomId}
        messages={thread.replies}
        draft={draft}
        setDraft={setDraft}
        textarea={textarea}
        thread={{ rootId, latestEventId: thread.latestEventId }}
        label="Reply in thread"
      />
    </aside>
  );
}
