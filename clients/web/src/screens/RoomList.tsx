import { useMemo, useState } from "react";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Input } from "@/components/ui/input";
import { cn } from "@/lib/cn";
import { describeError } from "@/lib/errors";
import { filterRooms, splitInvites, unreadLabel, type RoomSummary } from "@/lib/rooms";
import { timeLabel, dayKey } from "@/lib/timeline";
import * as session from "@/matrix/session";
import { useAppStore } from "@/store/app";
import { NewChatDialog, NewGroupDialog } from "./NewRoom";
import type { PhoneView } from "./PhoneNav";
import { UserMenu } from "./UserMenu";

export function openRoom(roomId: string) {
  const store = useAppStore.getState();
  if (!store.selectedRoomId) history.pushState({ room: roomId }, "");
  store.selectRoom(roomId);
}

/** `phoneView` "requests" shows only the invitations on a phone (the bottom navigation's tab). */
export function RoomList({ phoneView = "chats" }: { phoneView?: PhoneView }) {
  const rooms = useAppStore((s) => s.rooms);
  const [query, setQuery] = useState("");
  const { invites, joined } = useMemo(() => splitInvites(filterRooms(rooms, query)), [rooms, query]);

  return (
    <>
      <header className="flex items-center gap-2 border-b border-border p-3">
        <h1 className="flex-1 text-lg font-semibold">Chats</h1>
        <NewChatDialog />
        <NewGroupDialog />
        <UserMenu />
      </header>
      <div className="p-3 pb-1">
        <Input
          type="search"
          placeholder="Filter conversations"
          aria-label="Filter conversations"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
      </div>
      <nav className="min-h-0 flex-1 overflow-y-auto px-2 pb-3" aria-label="Conversations">
        {invites.length > 0 && (
          <section aria-label="Requests" className="mb-2">
            <h2 className="px-2 pb-1 pt-2 text-xs font-semibold uppercase tracking-wide text-fg-muted">Requests</h2>
            <ul>
              {invites.map((room) => (
                <InviteItem key={room.roomId} room={room} />
              ))}
            </ul>
          </section>
        )}
        {phoneView === "requests" && invites.length === 0 && (
          <p className="px-2 py-6 text-center text-sm text-fg-muted md:hidden">
            No requests. When someone invites you to a conversation, it shows here.
          </p>
        )}
        <div className={cn(phoneView === "requests" && "hidden md:block")}>
          {joined.length === 0 && invites.length === 0 ? (
            <p className="px-2 py-6 text-center text-sm text-fg-muted">
              {query ? "No conversation matches." : "No conversations yet. Start one with the buttons above."}
            </p>
          ) : (
            <ul>
              {joined.map((room) => (
                <RoomItem key={room.roomId} room={room} />
              ))}
            </ul>
          )}
        </div>
      </nav>
    </>
  );
}

function activityLabel(ts: number): string {
  if (!ts) return "";
  return dayKey(ts) === dayKey(Date.now())
    ? timeLabel(ts)
    : new Date(ts).toLocaleDateString(undefined, { day: "numeric", month: "short" });
}

function RoomItem({ room }: { room: RoomSummary }) {
  const selected = useAppStore((s) => s.selectedRoomId === room.roomId);
  return (
    <li>
      <button
        type="button"
        onClick={() => openRoom(room.roomId)}
        aria-current={selected ? "true" : undefined}
        data-room-id={room.roomId}
        className={cn(
          "flex w-full items-center gap-3 rounded-lg px-2 py-2 text-left hover:bg-muted",
          "focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring",
          selected && "bg-muted",
        )}
      >
        <Avatar id={room.avatarId} name={room.name} />
        <span className="min-w-0 flex-1">
          <span className="flex items-baseline gap-2">
            <span className={cn("flex-1 truncate", room.unread > 0 ? "font-semibold" : "font-medium")}>
              {room.name}
            </span>
            <span className="shrink-0 text-xs text-fg-muted">{activityLabel(room.lastActivityTs)}</span>
          </span>
          <span className="flex items-center gap-2">
            <span className="flex-1 truncate text-sm text-fg-muted">{room.lastMessagePreview || "\u00a0"}</span>
            {room.unread > 0 && (
              <span
                className={cn(
                  "min-w-5 rounded-full px-1.5 text-center text-xs font-semibold leading-5",
                  room.highlight > 0 ? "bg-danger text-white" : "bg-accent text-accent-fg",
                )}
                aria-label={`${room.unread} unread`}
              >
                {unreadLabel(room.unread)}
              </span>
            )}
          </span>
        </span>
      </button>
    </li>
  );
}

function InviteItem({ room }: { room: RoomSummary }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function act(accept: boolean) {
    setBusy(true);
    setError(null);
    try {
      if (accept) {
        await session.acceptInvite(room.roomId);
        openRoom(room.roomId);
      } else {
        await session.declineInvite(room.roomId);
      }
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <li className="rounded-lg px-2 py-2" data-invite-room-id={room.roomId}>
      <div className="flex items-center gap-3">
        <Avatar id={room.avatarId} name={room.name} />
        <div className="min-w-0 flex-1">
          <div className="truncate font-medium">{room.name}</div>
          <div className="truncate text-sm text-fg-muted">
            {room.isDirect ? "Wants to chat with you" : room.lastMessagePreview}
          </div>
        </div>
      </div>
      <div className="mt-2 flex gap-2 pl-[52px]">
        <Button size="sm" onClick={() => act(true)} disabled={busy}>
          Accept
        </Button>
        <Button size="sm" variant="secondary" onClick={() => act(false)} disabled={busy}>
          Decline
        </Button>
      </div>
      {error && (
        <p role="alert" className="mt-1 pl-[52px] text-sm text-danger">
          {error}
        </p>
      )}
    </li>
  );
}
