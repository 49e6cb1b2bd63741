/**
 * The member list of the side panel: a filter box, "Joined" (presence dots, online first, then by
 * name; Admin / Moderator badges) and "Invited". All members are fetched when it opens (the sync
 * lazy-loads them); big rooms draw 50 rows and 50 more each time the end scrolls into view, and an
 * avatar picture is only downloaded once its row is on screen. A click opens the member's profile.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { ListSkeleton } from "@/components/Skeleton";
import { Avatar } from "@/components/ui/avatar";
import { Input } from "@/components/ui/input";
import { cn } from "@/lib/cn";
import { describeError } from "@/lib/errors";
import { firstRows, groupMembers, MEMBER_PAGE, roleBadge } from "@/lib/members";
import { presenceLabel, type MemberSummary, type Presence } from "@/lib/presence";
import * as members from "@/matrix/members";
import { useAppStore } from "@/store/app";
import { useUiStore } from "@/store/ui";
import { MemberProfile } from "./MemberProfile";
import { PanelHeader } from "./SidePanel";

export const PRESENCE_DOT: Record<Presence, string> = {
  online: "bg-green-500",
  unavailable: "bg-amber-400",
  offline: "bg-gray-400",
};

export function MemberPanel({ roomId, userId }: { roomId: string; userId: string | null }) {
  const list = useRoomMembers(roomId);
  const showList = () => useUiStore.getState().setRightPanel({ kind: "members", userId: null });
  if (userId) {
    return (
      <>
        <PanelHeader title="Member" back={{ label: "Back to members", run: showList }} />
        <MemberProfile roomId={roomId} userId={userId} loaded={list.members !== null} />
      </>
    );
  }
  return (
    <>
      <PanelHeader title="Members" />
      <MemberList list={list} />
    </>
  );
}

interface RoomMembers {
  members: MemberSummary[] | null;
  error: string | null;
}

/** Loads all members once (lazy-loaded by the sync), then follows changes; null until loaded. */
function useRoomMembers(roomId: string): RoomMembers {
  const [state, setState] = useState<RoomMembers & { roomId: string }>({ roomId, members: null, error: null });
  useEffect(() => {
    let live = true;
    let loaded = false;
    const read = () => live && loaded && setState({ roomId, members: members.memberSummaries(roomId), error: null });
    members.loadMembers(roomId).then(
      () => ((loaded = true), read()),
      (e) => live && setState({ roomId, members: null, error: `${describeError(e)} Close the panel and open it again to retry.` }),
    );
    const stop = members.watchMembers(roomId, read);
    return () => {
      live = false;
      stop();
    };
  }, [roomId]);
  return state.roomId === roomId ? state : { members: null, error: null };
}

function MemberList({ list }: { list: RoomMembers }) {
  const [query, setQuery] = useState("");
  const [limit, setLimit] = useState(MEMBER_PAGE);
  const groups = useMemo(() => groupMembers(list.members ?? [], query), [list.members, query]);
  const shown = firstRows(groups, limit);
  const scroller = useRef<HTMLDivElement>(null);
  const end = useRef<HTMLDivElement>(null);
  const me = useAppStore((s) => s.session?.userId);

  // Draws the next page when the end of the drawn rows comes near the bottom of the panel.
  useEffect(() => {
    const sentinel = end.current;
    if (!sentinel || shown.notShown === 0) return;
    if (typeof IntersectionObserver === "undefined") {
      setLimit((l) => l + MEMBER_PAGE);
      return;
    }
    const observer = new IntersectionObserver(
      (entries) => entries.some((e) => e.isIntersecting) && setLimit((l) => l + MEMBER_PAGE),
      { root: scroller.current, rootMargin: "300px" },
    );
    observer.observe(sentinel);
    return () => observer.disconnect();
  }, [shown.notShown, limit]);

  if (list.error) return <p role="alert" className="p-4 text-sm text-danger">{list.error}</p>;
  if (!list.members) return <div className="p-4"><ListSkeleton label="Loading members" /></div>;
  const total = list.members.length;
  return (
    <>
      <div className="border-b border-border p-3">
        <Input
          type="search"
          placeholder="Filter members"
          aria-label="Filter members"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setLimit(MEMBER_PAGE);
          }}
        />
      </div>
      <div ref={scroller} className="min-h-0 flex-1 overflow-y-auto px-2 pb-3" data-testid="member-scroller">
        {groups.joined.length + groups.invited.length === 0 && (
          <p className="py-6 text-center text-sm text-fg-muted">{total === 0 ? "No one is here." : "No member matches."}</p>
        )}
        <MemberSection title="Joined" count={groups.joined.length} rows={shown.joined} me={me} />
        <MemberSection title="Invited" count={groups.invited.length} rows={shown.invited} me={me} />
        {shown.notShown > 0 && (
          <div ref={end} role="status" className="py-3 text-center text-xs text-fg-muted">
            {shown.notShown} more…
          </div>
        )}
      </div>
    </>
  );
}

function MemberSection({ title, count, rows, me }: { title: string; count: number; rows: MemberSummary[]; me?: string }) {
  if (count === 0) return null;
  const id = `members-${title.toLowerCase()}`;
  return (
    <section aria-labelledby={id} className="pt-3">
      <h3 id={id} className="px-2 pb-1 text-xs font-semibold uppercase tracking-wide text-fg-muted">
        {title} · {count}
      </h3>
      <ul aria-label={title} className="space-y-0.5">
        {rows.map((m) => (
          <MemberRow key={m.userId} member={m} isMe={m.userId === me} />
        ))}
      </ul>
    </section>
  );
}

function MemberRow({ member, isMe }: { member: MemberSummary; isMe: boolean }) {
  const presence = presenceLabel(member.presence, member.lastActiveAgo);
  const badge = roleBadge(member.powerLevel);
  const invited = member.membership === "invite";
  const label = [member.name + (isMe ? " (you)" : ""), invited ? "invited" : presence, badge, member.ignored ? "blocked" : null]
    .filter(Boolean)
    .join(", ");
  return (
    <li data-member-id={member.userId} data-presence={member.presence} data-role={badge ?? "User"}>
      <button
        type="button"
        aria-label={label}
        onClick={() => useUiStore.getState().setRightPanel({ kind: "members", userId: member.userId })}
        className="flex w-full items-center gap-3 rounded-lg px-2 py-1.5 text-left hover:bg-muted focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
      >
        <span className="relative">
          <Avatar id={member.userId} name={member.name} size={36} />
          {!invited && (
            <span
              aria-hidden="true"
              title={presence}
              className={cn("absolute -bottom-0.5 -right-0.5 h-3 w-3 rounded-full ring-2 ring-bg", PRESENCE_DOT[member.presence])}
            />
          )}
        </span>
        <span className="min-w-0 flex-1">
          <span className="block truncate text-sm font-medium">
            {member.name}
            {isMe && <span className="font-normal text-fg-muted"> (you)</span>}
          </span>
          <span className="block truncate text-xs text-fg-muted">
            {member.userId}
            {member.ignored ? " · blocked" : ""}
          </span>
        </span>
        {badge && <RoleBadge role={badge} />}
      </button>
    </li>
  );
}

export function RoleBadge({ role }: { role: string }) {
  return (
    <span data-role-badge={role} className="shrink-0 rounded-md bg-accent/15 px-1.5 py-0.5 text-xs font-medium text-accent">
      {role}
    </span>
  );
}
