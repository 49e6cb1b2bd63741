import { lazy, Suspense, useCallback, useEffect, useId, useLayoutEffect, useMemo, useReducer, useRef, useState, type KeyboardEvent, type RefObject } from "react";
import { AttachButton } from "@/components/AttachButton";
import { AttachmentView } from "@/components/Attachment";
import { BackIcon, LockIcon, SendIcon } from "@/components/icons";
import { FormattedBody } from "@/components/timeline/FormattedBody";
import { EditHistoryDialog } from "@/components/timeline/EditHistory";
import { CloseIcon, DownIcon, EditIcon, ReplyIcon, ThreadIcon } from "@/components/timeline/icons";
import { MessageActions } from "@/components/timeline/MessageActions";
import { Reactions } from "@/components/timeline/Reactions";
import { ReplyQuote } from "@/components/timeline/ReplyQuote";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import { fieldClass } from "@/components/ui/input";
import { cn } from "@/lib/cn";
import { parseComposerInput } from "@/lib/commands";
import { preloadMarkdown } from "@/lib/markdown";
import { typingLabel } from "@/lib/relations";
import { repliesLabel } from "@/lib/threads";
import { buildRows, lastEditable, timeLabel, type TimelineMessage } from "@/lib/timeline";
import * as session from "@/matrix/session";
import { FocusedTimeline } from "@/matrix/timeline-window";
import { useRoomTimeline } from "@/matrix/useRoomTimeline";
import { useTyping } from "@/matrix/useTyping";
import { useAppStore } from "@/store/app";
import { useUiStore } from "@/store/ui";
import { GroupCallBanner, RoomHeaderActions } from "./RoomHeaderActions";

// The full picker and its emoji list are a separate chunk, fetched the first time it opens.
const EmojiPicker = lazy(() => import("@/components/timeline/EmojiPicker"));
// So is the thread panel, which most conversations never open.
const ThreadPanel = lazy(() => import("./ThreadPanel"));

/** What the composer is doing besides writing a new message. */
export type Draft = { kind: "reply" | "edit"; message: TimelineMessage };

/** Reply and edit: the message becomes the composer's draft and the composer takes the focus. */
export function draftHandlers(
  setDraft: (draft: Draft) => void,
  composer: RefObject<HTMLTextAreaElement | null>,
): Pick<MessageHandlers, "reply" | "edit"> {
  const start = (kind: Draft["kind"]) => (message: TimelineMessage) => {
    setDraft({ kind, message });
    composer.current?.focus();
  };
  return { reply: start("reply"), edit: start("edit") };
}

/** What the message actions call; one object so rows need not know the conversation's state. */
export interface MessageHandlers {
  reply(message: TimelineMessage): void;
  edit(message: TimelineMessage): void;
  remove(message: TimelineMessage): void;
  react(message: TimelineMessage, key: string): void;
  pickReaction(message: TimelineMessage): void;
  /** Opens the thread whose root is `rootId` in the thread panel, scrolled to `focusId` if given. */
  openThread(rootId: string, focusId?: string): void;
  /** The "(edited)" dialog: the message's previous versions. */
  showEdits(message: TimelineMessage): void;
}

export function Conversation({ roomId }: { roomId: string }) {
  const room = useAppStore((s) => s.rooms.find((r) => r.roomId === roomId));
  // Set while the timeline shows a window of history around a jumped-to event instead of the live end.
  const [focus, setFocus] = useState<FocusedTimeline | null>(null);
  const [focusVersion, focusGrew] = useReducer((n: number) => n + 1, 0);
  const messages = useRoomTimeline(roomId, focus, focusVersion);
  const joined = room?.membership === "join";
  const [draft, setDraft] = useState<Draft | null>(null);
  const [deleting, setDeleting] = useState<TimelineMessage | null>(null);
  const [picking, setPicking] = useState<TimelineMessage | null>(null);
  const [editsOf, setEditsOf] = useState<TimelineMessage | null>(null);
  const [thread, setThread] = useState<{ rootId: string; focusId?: string } | null>(null);
  // ...and the member list (the ui store's `rightPanel`) replaces the thread.
  const sidePanelOpen = useUiStore((s) => s.rightPanel !== null);
  useEffect(() => {
    if (sidePanelOpen) setThread(null);
  }, [sidePanelOpen]);
  const composer = useRef<HTMLTextAreaElement>(null);
  useReadReceipts(roomId, messages, joined);

  const handlers = useMemo<MessageHandlers>(
    () => ({
      ...draftHandlers(setDraft, composer),
      remove: setDeleting,
      react: (message, key) => {
        const existing = message.reactions?.find((r) => r.key === key);
        session.toggleReaction(roomId, message.eventId, key, existing?.ownEventId ?? null).catch((e) => console.warn("Reaction failed", e));
      },
      pickReaction: setPicking,
      // One side panel at a time: the thread replaces the member list...
      openThread: (rootId, focusId) => {
        useUiStore.getState().setRightPanel(null);
        setThread({ rootId, focusId });
      },
      showEdits: setEditsOf,
    }),
    [roomId],
  );

  const back = () => {
    if (history.state?.room) history.back();
    else useAppStore.getState().selectRoom(null);
  };

  return (
    <div className="flex min-h-0 min-w-0 flex-1">
      <div className="flex min-w-0 flex-1 flex-col">
        <header className="flex items-center gap-3 border-b border-border px-3 py-2">
          <Button variant="ghost" size="icon" className="md:hidden" aria-label="Back to conversations" onClick={back}>
            <BackIcon />
          </Button>
          <Avatar id={room?.avatarId ?? roomId} name={room?.name ?? "?"} size={36} />
          <div className="min-w-0 flex-1">
            <h2 className="truncate font-semibold">{room?.name ?? "Conversation"}</h2>
            {room?.encrypted && (
              <p className="flex items-center gap-1 text-xs text-fg-muted">
                <LockIcon /> End-to-end encrypted
              </p>
            )}
          </div>
          <RoomHeaderActions roomId={roomId} />
        </header>
        <GroupCallBanner roomId={roomId} />
        <Timeline
          roomId={roomId}
          messages={messages}
          handlers={handlers}
          focus={focus}
          onFocus={setFocus}
          onFocusGrew={focusGrew}
        />
        <TypingIndicator roomId={roomId} />
        <Composer
          roomId={roomId}
          messages={messages}
          draft={draft}
          setDraft={setDraft}
          textarea={composer}
          onSent={() => setFocus(null)}
        />
      </div>
      {thread && (
        <Suspense fallback={null}>
          <ThreadPanel
            key={thread.rootId}
            roomId={roomId}
            rootId={thread.rootId}
            focusId={thread.focusId}
            handlers={handlers}
            onClose={() => setThread(null)}
          />
        </Suspense>
      )}
      <EditHistoryDialog roomId={roomId} message={editsOf} onClose={() => setEditsOf(null)} />
      <DeleteDialog roomId={roomId} message={deleting} onClose={() => setDeleting(null)} />
      <Dialog open={picking !== null} onOpenChange={(open) => !open && setPicking(null)}>
        <DialogContent title="Add a reaction">
          <Suspense fallback={<p className="py-8 text-center text-sm text-fg-muted">Loading emoji…</p>}>
            {picking && (
              <EmojiPicker
                onPick={(key) => {
                  handlers.react(picking, key);
                  setPicking(null);
                }}
              />
            )}
          </Suspense>
        </DialogContent>
      </Dialog>
    </div>
  );
}

/** Sends a read receipt for the newest event while the conversation is on screen and the window focused. */
function useReadReceipts(roomId: string, messages: TimelineMessage[], joined: boolean) {
  const newest = messages[messages.length - 1]?.eventId;
  useEffect(() => {
    if (!joined) return;
    const mark = () => {
      if (document.visibilityState === "visible" && document.hasFocus()) void session.markRead(roomId);
    };
    mark();
    window.addEventListener("focus", mark);
    document.addEventListener("visibilitychange", mark);
    return () => {
      window.removeEventListener("focus", mark);
      document.removeEventListener("visibilitychange", mark);
    };
  }, [roomId, newest, messages.length, joined]);
}

function Timeline({
  roomId,
  messages,
  handlers,
  focus,
  onFocus,
  onFocusGrew,
}: {
  roomId: string;
  messages: TimelineMessage[];
  handlers: MessageHandlers;
  /** A window of history around a jumped-to event, or null for the live end of the room. */
  focus: FocusedTimeline | null;
  onFocus(focus: FocusedTimeline | null): void;
  onFocusGrew(): void;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const rows = useMemo(() => buildRows(messages), [messages]);
  const [loading, setLoading] = useState(false);
  const atStart = focus ? !focus.canLoadOlder() : session.reachedStart(roomId);
  const stickToBottom = useRef(true);
  const heightBeforeLoad = useRef<number | null>(null);
  // A row to keep where it is on screen across a change of what is shown (history window -> live).
  const keepInPlace = useRef<{ eventId: string; top: number } | null>(null);
  const pendingJump = useRef<string | null>(null);
  const [highlighted, setHighlighted] = useState<string | null>(null);
  const [jumpProblem, setJumpProblem] = useState<string | null>(null);
  const [jumping, setJumping] = useState(false);
  // The first message someone else sent after our read receipt, as it was when the room was opened.
  const [firstUnread] = useState(() => session.firstUnread(roomId));
  const [unreadAbove, setUnreadAbove] = useState(false);
  const unreadSeen = useRef(false);
  const requestedJump = useUiStore((s) => (s.jumpTarget?.roomId === roomId ? s.jumpTarget.eventId : null));

  const rowOf = (eventId: string) =>
    scroller.current?.querySelector<HTMLElement>(`[data-event-id="${CSS.escape(eventId)}"]`) ?? null;

  const checkUnread = useCallback(() => {
    const el = scroller.current;
    const row = firstUnread ? el?.querySelector<HTMLElement>(`[data-event-id="${CSS.escape(firstUnread)}"]`) : null;
    if (!el || !row || unreadSeen.current) return setUnreadAbove(false);
    const above = row.offsetTop + row.offsetHeight < el.scrollTop + 8;
    if (!above && row.offsetTop < el.scrollTop + el.clientHeight) unreadSeen.current = true;
    setUnreadAbove(above);
  }, [firstUnread]);

  const showAndHighlight = useCallback((row: HTMLElement, eventId: string) => {
    stickToBottom.current = false;
    // At once, not smoothly: a smooth scroll's first events would still look "at the bottom" and a
    // timeline update in between would pull the view back down.
    row.scrollIntoView({ block: "center" });
    row.focus({ preventScroll: true });
    setHighlighted(eventId);
    setTimeout(() => setHighlighted((h) => (h === eventId ? null : h)), 2500);
  }, []);

  /** Remembers the first row on screen, to put it back at the same height after the next render. */
  const rememberTopRow = useCallback(() => {
    const el = scroller.current;
    if (!el) return;
    const top = el.getBoundingClientRect().top;
    for (const row of el.querySelectorAll<HTMLElement>("li[data-event-id]")) {
      const rect = row.getBoundingClientRect();
      if (rect.bottom > top) {
        keepInPlace.current = { eventId: row.dataset.eventId!, top: rect.top - top };
        return;
      }
    }
  }, []);

  const goLive = useCallback(() => {
    rememberTopRow();
    stickToBottom.current = false;
    onFocus(null);
  }, [onFocus, rememberTopRow]);

  const loadOlder = useCallback(async () => {
    if (loading || atStart || !scroller.current) return;
    setLoading(true);
    heightBeforeLoad.current = scroller.current.scrollHeight;
    try {
      if (focus) {
        await focus.loadOlder();
        onFocusGrew();
      } else {
        await session.loadOlder(roomId);
      }
    } finally {
      setLoading(false);
    }
  }, [loading, atStart, roomId, focus, onFocusGrew]);

  /** In a window of history: loads what follows; once it meets the live end, the live timeline takes over. */
  const loadNewer = useCallback(async () => {
    if (!focus || loading) return;
    if (focus.reachedLive()) return goLive();
    if (!focus.canLoadNewer()) return;
    setLoading(true);
    try {
      await focus.loadNewer();
      onFocusGrew();
    } finally {
      setLoading(false);
    }
  }, [focus, loading, onFocusGrew, goLive]);

  /**
   * Scrolls to a message (a reply's original, a search result) and highlights it. One that is not
   * loaded is shown in a window of history around it (the server's /context), however far back.
   */
  const jumpTo = useCallback(
    async (eventId: string) => {
      setJumpProblem(null);
      const row = rowOf(eventId);
      if (row) return showAndHighlight(row, eventId);
      if (!focus && session.hasLoaded(roomId, eventId)) {
        pendingJump.current = eventId; // in the live timeline, not drawn yet
        return;
      }
      setJumping(true);
      try {
        const found = await FocusedTimeline.around(roomId, eventId);
        if ("threadRootId" in found) return handlers.openThread(found.threadRootId, eventId);
        stickToBottom.current = false;
        pendingJump.current = eventId;
        onFocus(found);
      } catch (error) {
        console.warn("Jump failed", error);
        pendingJump.current = null;
        setJumpProblem("That message is not available.");
      } finally {
        setJumping(false);
      }
    },
    [roomId, focus, showAndHighlight, onFocus, handlers],
  );

  useEffect(() => {
    if (!requestedJump) return;
    useUiStore.getState().setJumpTarget(null);
    void jumpTo(requestedJump);
  }, [requestedJump, jumpTo]);

  // Back to the live end by "Jump to latest" or by sending: show the newest messages.
  useLayoutEffect(() => {
    if (!focus && !keepInPlace.current) stickToBottom.current = true;
  }, [focus]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const kept = keepInPlace.current;
    const keptRow = kept ? rowOf(kept.eventId) : null;
    if (kept && keptRow) {
      el.scrollTop += keptRow.getBoundingClientRect().top - el.getBoundingClientRect().top - kept.top;
      keepInPlace.current = null;
      heightBeforeLoad.current = null;
    } else if (heightBeforeLoad.current !== null) {
      // Older messages went in above: keep what the user was looking at in place.
      el.scrollTop += el.scrollHeight - heightBeforeLoad.current;
      heightBeforeLoad.current = null;
    } else if (stickToBottom.current && !focus) {
      el.scrollTop = el.scrollHeight;
    }
    const jump = pendingJump.current;
    const row = jump ? rowOf(jump) : null;
    if (jump && row) {
      pendingJump.current = null;
      showAndHighlight(row, jump);
    }
    checkUnread();
    // A short room does not fill the screen, so no scroll will ever ask for more: ask now.
    if (el.scrollHeight <= el.clientHeight && !loading) {
      if (!atStart) void loadOlder();
      else if (focus) void loadNewer();
    }
  }, [rows, atStart, loading, loadOlder, loadNewer, focus, showAndHighlight, checkUnread]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const fromBottom = el.scrollHeight - el.scrollTop - el.clientHeight;
    stickToBottom.current = !focus && fromBottom < 80;
    if (el.scrollTop < 150) void loadOlder();
    if (focus && fromBottom < 150) void loadNewer();
    checkUnread();
  };

  return (
    <div className="relative flex min-h-0 flex-1 flex-col" data-history-window={focus ? "" : undefined}>
      {unreadAbove && firstUnread && !focus && (
        <button
          type="button"
          onClick={() => {
            const row = rowOf(firstUnread);
            unreadSeen.current = true;
            setUnreadAbove(false);
            if (row) showAndHighlight(row, firstUnread);
          }}
          className="absolute left-1/2 top-2 z-20 flex -translate-x-1/2 items-center gap-1 whitespace-nowrap rounded-full bg-accent px-3 py-1.5 text-sm font-medium text-accent-fg shadow-lg focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
        >
          <span className="rotate-180">
            <DownIcon />
          </span>
          Jump to first unread message
        </button>
      )}
      {jumpProblem && (
        <p role="alert" className="absolute left-1/2 top-2 z-20 -translate-x-1/2 rounded-lg bg-fg px-3 py-1.5 text-sm text-bg shadow">
          {jumpProblem}
        </p>
      )}
      {jumping && (
        <p role="status" className="absolute left-1/2 top-2 z-20 -translate-x-1/2 rounded-lg bg-fg px-3 py-1.5 text-sm text-bg shadow">
          Loading the message…
        </p>
      )}
      {focus && (
        <button
          type="button"
          onClick={() => {
            stickToBottom.current = true;
            onFocus(null);
          }}
          className="absolute bottom-3 left-1/2 z-20 flex -translate-x-1/2 items-center gap-1 whitespace-nowrap rounded-full bg-accent px-3 py-1.5 text-sm font-medium text-accent-fg shadow-lg focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
        >
          <DownIcon />
          Jump to latest
        </button>
      )}
      <div
        ref={scroller}
        onScroll={onScroll}
        className="min-h-0 flex-1 overflow-y-auto overflow-x-hidden px-3 py-2"
        role="log"
        aria-label="Messages"
        aria-live="polite"
      >
        {loading && <p className="py-2 text-center text-xs text-fg-muted">Loading messages…</p>}
        {atStart && <p className="py-2 text-center text-xs text-fg-muted">Start of the conversation</p>}
        <ol className="mx-auto max-w-3xl">
          {rows.map((row) =>
            row.kind === "day" ? (
              <li key={row.key} className="my-3 flex items-center gap-3 text-xs font-medium text-fg-muted" role="separator">
                <span className="h-px flex-1 bg-border" />
                {row.label}
                <span className="h-px flex-1 bg-border" />
              </li>
            ) : (
              <MessageRow
                key={row.key}
                roomId={roomId}
                message={row.message}
                first={row.firstInGroup}
                last={row.lastInGroup}
                unreadFromHere={row.message.eventId === firstUnread}
                highlighted={row.message.eventId === highlighted}
                handlers={handlers}
                onJump={jumpTo}
                version={messages}
              />
            ),
          )}
        </ol>
      </div>
    </div>
  );
}

export function MessageRow({
  roomId,
  message,
  first,
  last,
  unreadFromHere,
  highlighted,
  handlers,
  onJump,
  version,
  inThread = false,
}: {
  roomId: string;
  message: TimelineMessage;
  first: boolean;
  last: boolean;
  unreadFromHere: boolean;
  highlighted: boolean;
  handlers: MessageHandlers;
  onJump(eventId: string): void;
  version: unknown;
  /** Drawn in the thread panel: no "N replies" / "In thread" links, which lead to where it is. */
  inThread?: boolean;
}) {
  if (message.notice) {
    return (
      <li className="my-2 text-center text-xs text-fg-muted" data-event-id={message.eventId}>
        {message.body}
      </li>
    );
  }
  const own = message.own;
  const canAct = !message.deleted && !message.undecryptable && message.sendState === "sent";
  return (
    <>
      {unreadFromHere && (
        <li className="my-2 flex items-center gap-3 text-xs font-semibold text-danger" role="separator" aria-label="New messages">
          <span className="h-px flex-1 bg-danger/50" />
          New
        </li>
      )}
      <li
        className={cn(
          "group relative flex gap-2 rounded-lg transition-colors duration-700 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring",
          own ? "justify-end" : "justify-start",
          first ? "mt-3" : "mt-0.5",
          highlighted && "bg-accent/15",
        )}
        tabIndex={0}
        data-event-id={message.eventId}
        data-send-state={message.sendState}
        data-highlighted={highlighted || undefined}
        data-msgtype={message.variant}
      >
        {!own && (first ? <Avatar id={message.sender} name={message.senderName} size={32} /> : <span className="w-8 shrink-0" />)}
        <div className={cn("flex min-w-0 max-w-[80%] flex-col", own ? "items-end" : "items-start")}>
          {first && !own && <span className="mb-0.5 text-xs font-semibold text-fg-muted">{message.senderName}</span>}
          <div
            className={cn(
              "max-w-full whitespace-pre-wrap break-words rounded-2xl px-3 py-2 text-[15px] leading-snug",
              message.undecryptable || message.deleted
                ? "border border-dashed border-border italic text-fg-muted"
                : message.variant === "notice"
                  ? "border border-border bg-transparent text-fg-muted"
                  : own
                  ? "bg-own text-own-fg"
                  : "bg-muted text-fg",
              message.sendState === "sending" && "opacity-70",
              message.sendState === "failed" && "opacity-80 ring-2 ring-danger",
              highlighted && "ring-2 ring-accent",
              message.attachment && !message.undecryptable && "bg-transparent! p-0!", // the picture or card is the bubble
            )}
          >
            {message.replyTo && (
              <ReplyQuote roomId={roomId} eventId={message.replyTo} own={own} onJump={onJump} refresh={version} />
            )}
            {message.undecryptable ? (
              <span className="inline-flex items-start gap-1.5">
                <span className="mt-1 shrink-0">
                  <LockIcon />
                </span>
                {message.undecryptable}
              </span>
            ) : message.attachment ? (
              <AttachmentView attachment={message.attachment} />
            ) : message.variant === "emote" ? (
              <EmoteBody message={message} />
            ) : message.html ? (
              <div className="whitespace-normal [&_pre]:whitespace-pre">
                <FormattedBody html={message.html} />
              </div>
            ) : (
              message.body
            )}
            {message.edited && (
              <button
                type="button"
                onClick={() => handlers.showEdits(message)}
                aria-label="(edited) Show the previous versions"
                title="Show the previous versions"
                className="ml-1 whitespace-nowrap rounded text-[11px] opacity-70 hover:underline hover:opacity-100 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
              >
                (edited)
              </button>
            )}
          </div>
          {message.variant === "notice" && !message.deleted && (
            <span className="mt-0.5 text-[10px] font-medium uppercase tracking-wide text-fg-muted">Notice</span>
          )}
          {!inThread && message.thread && (
            <button
              type="button"
              onClick={() => handlers.openThread(message.eventId)}
              data-thread-summary={message.eventId}
              className="mt-1 flex items-center gap-1 rounded-md px-1.5 py-0.5 text-xs font-semibold text-accent hover:bg-muted focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
            >
              <ThreadIcon />
              {repliesLabel(message.thread.count)}
            </button>
          )}
          {!inThread && message.threadRoot && (
            <button
              type="button"
              onClick={() => handlers.openThread(message.threadRoot!, message.eventId)}
              data-in-thread={message.threadRoot}
              className="mt-0.5 flex items-center gap-1 rounded-md px-1 text-[11px] text-fg-muted hover:text-accent hover:underline focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
            >
              <ThreadIcon />
              In a thread: show it
            </button>
          )}
          {message.reactions && (
            <Reactions
              reactions={message.reactions}
              own={own}
              onToggle={(r) => handlers.react(message, r.key)}
              onAdd={() => handlers.pickReaction(message)}
            />
          )}
          {/* The time closes a group; our own message's state shows until it is sent. */}
          {(last || (own && message.sendState !== "sent")) && (
            <span className="mt-0.5 flex items-center gap-2 text-[11px] text-fg-muted">
              <time dateTime={new Date(message.ts).toISOString()}>{timeLabel(message.ts)}</time>
              {own && message.sendState === "sending" && <span>Sending…</span>}
              {own && message.sendState === "sent" && <span aria-label="Sent">✓</span>}
              {own && message.sendState === "failed" && (
                <>
                  <span className="text-danger">Not sent</span>
                  <button className="font-medium text-accent hover:underline" onClick={() => void session.retry(roomId, message.eventId)}>
                    Retry
                  </button>
                  <button className="hover:underline" onClick={() => session.discard(roomId, message.eventId)}>
                    Delete
                  </button>
                </>
              )}
            </span>
          )}
          {message.readBy && <ReadBy readers={message.readBy} />}
        </div>
        {canAct && (
          <MessageActions
            message={message}
            onReact={(key) => handlers.react(message, key)}
            onMoreReactions={() => handlers.pickReaction(message)}
            onReply={() => handlers.reply(message)}
            onReplyInThread={inThread ? undefined : () => handlers.openThread(message.threadRoot ?? message.eventId)}
            onEdit={() => handlers.edit(message)}
            onDelete={() => handlers.remove(message)}
          />
        )}
      </li>
    </>
  );
}

/** m.emote: "* Alice waves", the name in italics, the action as sent (formatted when it has HTML). */
function EmoteBody({ message }: { message: TimelineMessage }) {
  return (
    <span className={cn(message.html && "whitespace-normal [&_pre]:whitespace-pre")} data-emote="">
      {"* "}
      <i className="font-semibold">{message.senderName}</i> {message.html ? <FormattedBody html={message.html} /> : message.body}
    </span>
  );
}

/** Small avatars of the people whose latest read receipt is at this message. */
function ReadBy({ readers }: { readers: { userId: string; name: string }[] }) {
  const label = `Read by ${readers.map((r) => r.name).join(", ")}`;
  const shown = readers.slice(0, 4);
  return (
    <span className="mt-0.5 flex items-center -space-x-1" role="img" aria-label={label} title={label} data-read-by={readers.map((r) => r.userId).join(" ")}>
      {shown.map((r) => (
        <Avatar key={r.userId} id={r.userId} name={r.name} size={16} className="ring-2 ring-bg" />
      ))}
      {readers.length > shown.length && <span className="pl-2 text-[10px] text-fg-muted">+{readers.length - shown.length}</span>}
    </span>
  );
}

function TypingIndicator({ roomId }: { roomId: string }) {
  const label = typingLabel(useTyping(roomId));
  return (
    <p role="status" className="h-5 truncate px-4 text-xs italic text-fg-muted">
      {label}
    </p>
  );
}

/** Typing notifications: start on input (renewed before the server's timeout), stop when idle, sent or left. */
function useTypingNotifier(roomId: string) {
  const typingSince = useRef(0);
  const idle = useRef<ReturnType<typeof setTimeout> | null>(null);
  const stop = useCallback(() => {
    if (idle.current) clearTimeout(idle.current);
    idle.current = null;
    if (typingSince.current) {
      typingSince.current = 0;
      void session.setTyping(roomId, false);
    }
  }, [roomId]);
  const typed = useCallback(
    (text: string) => {
      if (!text.trim()) return stop();
      const now = Date.now();
      if (!typingSince.current || now - typingSince.current > session.TYPING_TIMEOUT_MS - 5_000) {
        typingSince.current = now;
        void session.setTyping(roomId, true);
      }
      if (idle.current) clearTimeout(idle.current);
      idle.current = setTimeout(stop, 5_000);
    },
    [roomId, stop],
  );
  useEffect(() => stop, [stop]);
  return { typed, stop };
}

export function Composer({
  roomId,
  messages,
  draft,
  setDraft,
  textarea,
  thread,
  label = "Message",
  onSent,
}: {
  roomId: string;
  messages: TimelineMessage[];
  draft: Draft | null;
  setDraft(draft: Draft | null): void;
  textarea: RefObject<HTMLTextAreaElement | null>;
  /** Writing in a thread: new messages go there (with the fallback reply to `latestEventId`). */
  thread?: { rootId: string; latestEventId: string };
  label?: string;
  /** Called after a new message went out (the timeline then shows the live end). */
  onSent?(): void;
}) {
  const [text, setText] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const hintId = useId();
  const ref = textarea;
  const joined = useAppStore((s) => s.rooms.find((r) => r.roomId === roomId)?.membership === "join");
  const typing = useTypingNotifier(roomId);
  const editing = draft?.kind === "edit" ? draft.message : null;

  // The Markdown renderer is its own chunk: fetch it while the user types the first message.
  useEffect(preloadMarkdown, []);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  }, [text, ref]);

  // Editing puts the message's text in the composer; leaving edit mode empties it again. A layout
  // effect: the "Editing" banner and the text appear in the same paint, never the banner alone.
  const editingId = editing?.eventId;
  useLayoutEffect(() => {
    if (!editingId) return;
    const body = messages.find((m) => m.eventId === editingId)?.body ?? editing?.body ?? "";
    setText(body);
    requestAnimationFrame(() => ref.current?.setSelectionRange(body.length, body.length));
    return () => setText("");
    // eslint-disable-next-line react-hooks/exhaustive-deps -- only when another message is picked
  }, [editingId]);

  const cancelDraft = () => {
    setDraft(null);
    ref.current?.focus();
  };

  const send = () => {
    const body = text.trim();
    typing.stop();
    if (editing) {
      setDraft(null);
      if (body && body !== editing.body) {
        const msgtype = editing.variant === "emote" ? "m.emote" : "m.text";
        session.editText(roomId, editing.eventId, body, msgtype).catch((error) => console.warn("Edit failed", error));
      }
      return;
    }
    const input = parseComposerInput(text);
    if (input.kind === "empty") return;
    // An unknown /command is never sent as text by accident: say so, and keep what was typed.
    if (input.kind === "problem") return setProblem(input.text);
    setProblem(null);
    setText("");
    const replyTo = draft?.kind === "reply" ? { eventId: draft.message.eventId, sender: draft.message.sender } : undefined;
    setDraft(null);
    // A failure leaves the message in the timeline marked "Not sent", with Retry.
    session
      .sendText(roomId, input.body, replyTo, { msgtype: input.msgtype, thread })
      .catch((error) => console.warn("Send failed", error));
    onSent?.();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === "Escape" && draft) {
      e.preventDefault();
      cancelDraft();
    } else if (e.key === "ArrowUp" && !text && !draft) {
      const last = lastEditable(messages);
      if (last) {
        e.preventDefault();
        setDraft({ kind: "edit", message: last });
      }
    }
  };

  return (
    <form
      className="border-t border-border p-3"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      {draft && (
        <div className="mb-2 flex items-start gap-2 rounded-lg border-l-4 border-accent bg-muted px-3 py-2 text-sm" aria-label={draft.kind === "reply" ? "Replying to" : "Editing"} role="group">
          <span className="mt-0.5 text-accent">{draft.kind === "reply" ? <ReplyIcon /> : <EditIcon />}</span>
          <div className="min-w-0 flex-1">
            <p className="text-xs font-semibold">
              {draft.kind === "reply" ? `Replying to ${draft.message.senderName}` : "Editing message"}
            </p>
            <p className="truncate text-fg-muted">{draft.message.body}</p>
          </div>
          <button
            type="button"
            onClick={cancelDraft}
            aria-label={draft.kind === "reply" ? "Cancel reply" : "Cancel editing"}
            title="Cancel (Esc)"
            className="rounded-md p-1 text-fg-muted hover:bg-border hover:text-fg focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
          >
            <CloseIcon />
          </button>
        </div>
      )}
      {problem && (
        <p role="alert" className="mb-2 rounded-lg bg-danger/10 px-3 py-2 text-sm text-danger">
          {problem}
        </p>
      )}
      <div className="flex items-end gap-2">
        {!thread && <AttachButton roomId={roomId} disabled={!joined} />}
        <textarea
          ref={ref}
          rows={1}
          value={text}
          disabled={!joined}
          onChange={(e) => {
            setText(e.target.value);
            setProblem(null);
            typing.typed(e.target.value);
          }}
          onBlur={typing.stop}
          onKeyDown={onKeyDown}
          placeholder={joined ? (editing ? "Edit message" : label) : "Join the conversation to write"}
          aria-label={label}
          aria-describedby={hintId}
          className={cn(fieldClass, "resize-none py-2 leading-6")}
        />
        <Button type="submit" size="icon" className="shrink-0" disabled={!joined || !text.trim()} aria-label={editing ? "Save edit" : thread ? "Send in thread" : "Send"}>
          <SendIcon />
        </Button>
      </div>
      <p id={hintId} className="sr-only">
        Enter sends, Shift+Enter starts a new line, Up arrow edits your last message, Escape cancels a reply or edit.
        **bold**, *italic*, `code` and links are formatted. /me followed by an action sends an emote; start with // to
        send a message that begins with a slash.
      </p>
    </form>
  );
}

export function DeleteDialog({ roomId, message, onClose }: { roomId: string; message: TimelineMessage | null; onClose(): void }) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const confirm = async () => {
    if (!message) return;
    setBusy(true);
    setProblem(null);
    try {
      await session.deleteMessage(roomId, message.eventId);
      onClose();
    } catch (error) {
      setProblem(`Could not delete the message: ${(error as Error).message ?? error}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open={message !== null} onOpenChange={(open) => !open && (setProblem(null), onClose())}>
      <DialogContent title="Delete message?" description="It will be removed for everyone in the conversation.">
        {message && <p className="mb-4 line-clamp-3 rounded-lg bg-muted px-3 py-2 text-sm">{message.body}</p>}
        {problem && (
          <p role="alert" className="mb-3 text-sm text-danger">
            {problem}
          </p>
        )}
        <div className="flex justify-end gap-2">
          <Button variant="secondary" onClick={onClose}>
            Cancel
          </Button>
          <Button variant="danger" disabled={busy} onClick={() => void confirm()}>
            {busy ? "Deleting…" : "Delete"}
          </Button>
        </div>
      </DialogContent>
    </Dialog>
  );
}
