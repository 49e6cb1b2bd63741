/** A conversation's members with presence dots; block (ignore) or unblock someone from here. */
import { useEffect, useState } from "react";
import { ListSkeleton } from "@/components/Skeleton";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import { cn } from "@/lib/cn";
import { describeError } from "@/lib/errors";
import { presenceLabel, type MemberSummary, type Presence } from "@/lib/presence";
import * as account from "@/matrix/account";
import { useAppStore } from "@/store/app";
import { toastError, useUiStore } from "@/store/ui";

const DOT: Record<Presence, string> = {
  online: "bg-green-500",
  unavailable: "bg-amber-400",
  offline: "bg-gray-400",
};

export function MemberListDialog() {
  const roomId = useUiStore((s) => s.memberListRoomId);
  const close = () => useUiStore.getState().setMemberListRoomId(null);
  return (
    <Dialog open={roomId !== null} onOpenChange={(open) => !open && close()}>
      {roomId && (
        <DialogContent title="Members" description={account.roomName(roomId)}>
          <Members roomId={roomId} />
        </DialogContent>
      )}
    </Dialog>
  );
}

function Members({ roomId }: { roomId: string }) {
  const [members, setMembers] = useState<MemberSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const me = useAppStore((s) => s.session?.userId);
  const ignoredUsers = useUiStore((s) => s.ignoredUsers);

  useEffect(() => {
    let live = true;
    const read = () => live && setMembers(account.memberSummaries(roomId));
    account.loadMembers(roomId).then(read, (e) => live && setError(`${describeError(e)} Close and open the list to try again.`));
    const stop = account.watchMembers(roomId, read);
    return () => {
      live = false;
      stop();
    };
  }, [roomId, ignoredUsers]);

  if (error) return <p role="alert" className="text-sm text-danger">{error}</p>;
  if (!members) return <ListSkeleton label="Loading members" />;
  if (members.length === 0) return <p className="py-6 text-center text-sm text-fg-muted">No one else is here.</p>;
  const joined = members.filter((m) => m.membership === "join").length;
  return (
    <>
      <p className="mb-2 text-xs text-fg-muted">{joined} joined{members.length > joined ? `, ${members.length - joined} invited` : ""}</p>
      <ul aria-label="Members" className="max-h-[60dvh] space-y-1 overflow-y-auto">
        {members.map((m) => (
          <MemberRow key={m.userId} member={m} isMe={m.userId === me} />
        ))}
      </ul>
    </>
  );
}

function MemberRow({ member, isMe }: { member: MemberSummary; isMe: boolean }) {
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const label = presenceLabel(member.presence, member.lastActiveAgo);
  const toggle = async () => {
    setBusy(true);
    try {
      if (member.ignored) await account.unignoreUser(member.userId);
      else await account.ignoreUser(member.userId);
      setConfirm(false);
    } catch (e) {
      toastError(`${member.ignored ? "Unblocking" : "Blocking"} ${member.name} failed: ${describeError(e)} Try again.`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <li className="rounded-lg px-1 py-1.5" data-member-id={member.userId} data-presence={member.presence}>
      <div className="flex items-center gap-3">
        <span className="relative">
          <Avatar id={member.userId} name={member.name} size={36} />
          <span
            role="img"
            aria-label={label}
            title={label}
            className={cn("absolute -bottom-0.5 -right-0.5 h-3 w-3 rounded-full ring-2 ring-bg", DOT[member.presence])}
          />
        </span>
        <span className="min-w-0 flex-1">
          <span className="block truncate text-sm font-medium">
            {member.name}
            {isMe && <span className="text-fg-muted"> (you)</span>}
          </span>
          <span className="block truncate text-xs text-fg-muted">
            {member.userId}
            {member.membership === "invite" ? " · invited" : ""}
            {member.powerLevel >= 100 ? " · admin" : member.powerLevel >= 50 ? " · moderator" : ""}
            {member.ignored ? " · blocked" : ""}
          </span>
        </span>
        {!isMe && !confirm && (
          <Button size="sm" variant="secondary" disabled={busy} onClick={() => (member.ignored ? void toggle() : setConfirm(true))}
            aria-label={`${member.ignored ? "Unblock" : "Block"} ${member.name}`}>
            {member.ignored ? "Unblock" : "Block"}
          </Button>
        )}
      </div>
      {confirm && (
        <div className="mt-2 rounded-lg bg-muted p-2 text-sm" role="group" aria-label={`Block ${member.name}?`}>
          <p>Block {member.name}? You will no longer see their messages or invitations, anywhere. Unblock in Settings.</p>
          <div className="mt-2 flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={() => setConfirm(false)}>Cancel</Button>
            <Button size="sm" variant="danger" disabled={busy} onClick={() => void toggle()}>Block</Button>
          </div>
        </div>
      )}
    </li>
  );
}
