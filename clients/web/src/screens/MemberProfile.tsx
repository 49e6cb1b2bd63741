/**
 * One member in the side panel: avatar, name, user ID, presence or last seen, power level, their
 * sessions and whether we verified them; "Message" (their direct chat, or a new one), block / unblock
 * (`m.ignored_user_list`), and for those with the power: remove (kick), ban and change their role.
 * Every consequential action asks first.
 */
import { useEffect, useState, type FormEvent } from "react";
import { ListSkeleton } from "@/components/Skeleton";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Input, Label } from "@/components/ui/input";
import { cn } from "@/lib/cn";
import { describeError } from "@/lib/errors";
import { exactRole, levelDescription, roleBadge, ROLE_LABELS, ROLE_LEVELS, type Role } from "@/lib/members";
import { presenceLabel } from "@/lib/presence";
import * as account from "@/matrix/account";
import * as members from "@/matrix/members";
import { toastError, useUiStore } from "@/store/ui";
import { PRESENCE_DOT, RoleBadge } from "./MemberPanel";
import { openRoom } from "./RoomList";

type Pending = { kind: "block" | "kick" | "ban" } | { kind: "role"; role: Role };

const MEMBERSHIP_NOTE: Record<string, string> = {
  invite: "Invited",
  leave: "Not in this conversation",
  ban: "Banned from this conversation",
};

export function MemberProfile({ roomId, userId, loaded }: { roomId: string; userId: string; loaded: boolean }) {
  const [details, setDetails] = useState(() => members.memberDetails(roomId, userId));
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const ignoredUsers = useUiStore((s) => s.ignoredUsers);

  useEffect(() => {
    const read = () => setDetails(members.memberDetails(roomId, userId));
    read();
    return members.watchMembers(roomId, read);
  }, [roomId, userId, loaded, ignoredUsers]);
  useEffect(() => setPending(null), [userId]);

  if (!details) {
    if (!loaded) return <div className="p-4"><ListSkeleton rows={2} label="Loading member" /></div>;
    return <p className="p-4 text-sm text-fg-muted">{userId} is not a member of this conversation.</p>;
  }

  const run = async (what: string, action: () => Promise<unknown>, failure: string) => {
    setBusy(what);
    try {
      await action();
      setPending(null);
    } catch (e) {
      toastError(`${failure}: ${describeError(e)}`);
    } finally {
      setBusy(null);
    }
  };
  const message = () =>
    run("message", async () => openRoom(await members.messageMember(userId)), `Opening a chat with ${details.name} failed. Try again`);
  const note = MEMBERSHIP_NOTE[details.membership];
  const presence = presenceLabel(details.presence, details.lastActiveAgo);
  const badge = roleBadge(details.powerLevel);

  return (
    <div className="min-h-0 flex-1 overflow-y-auto p-4" data-member-profile={userId}>
      <div className="flex flex-col items-center gap-2 text-center">
        <Avatar id={userId} name={details.name} size={96} />
        <h3 className="mt-1 break-words text-lg font-semibold">{details.name}</h3>
        <p className="break-all text-sm text-fg-muted">{userId}</p>
        <p className="flex items-center gap-1.5 text-sm" data-testid="member-presence">
          {note ?? (
            <>
              <span aria-hidden="true" className={cn("h-2.5 w-2.5 rounded-full", PRESENCE_DOT[details.presence])} />
              {presence}
            </>
          )}
        </p>
        <p className="flex items-center gap-2 text-sm" data-testid="member-power">
          <span className="text-fg-muted">Power level:</span> {levelDescription(details.powerLevel)}
          {badge && <RoleBadge role={badge} />}
        </p>
        {details.ignored && <p className="text-sm text-danger">You blocked {details.name}.</p>}
      </div>

      {!details.isMe && (
        <div className="mt-4 flex flex-wrap justify-center gap-2">
          <Button size="sm" disabled={busy !== null} onClick={() => void message()}>
            {busy === "message" ? "Opening…" : "Message"}
          </Button>
          {details.ignored ? (
            <Button size="sm" variant="secondary" disabled={busy !== null}
              onClick={() => void run("block", () => account.unignoreUser(userId), `Unblocking ${details.name} failed. Try again`)}>
              Unblock
            </Button>
          ) : (
            <Button size="sm" variant="secondary" disabled={busy !== null} onClick={() => setPending({ kind: "block" })}>
              Block
            </Button>
          )}
          {details.can.kick && (
            <Button size="sm" variant="secondary" disabled={busy !== null} onClick={() => setPending({ kind: "kick" })}>
              {details.membership === "invite" ? "Withdraw invitation" : "Remove from room"}
            </Button>
          )}
          {details.can.ban && (
            <Button size="sm" variant="secondary" disabled={busy !== null} onClick={() => setPending({ kind: "ban" })}>
              Ban
            </Button>
          )}
        </div>
      )}

      {details.can.changeRole && (
        <div className="mt-4 space-y-1">
          <Label htmlFor="member-role">Role in this conversation</Label>
          <select
            id="member-role"
            className="h-10 w-full rounded-lg border border-border bg-bg px-3 text-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
            value={pending?.kind === "role" ? pending.role : (exactRole(details.powerLevel) ?? "custom")}
            disabled={busy !== null}
            onChange={(e) => {
              const role = e.target.value as Role;
              setPending(ROLE_LEVELS[role] === details.powerLevel ? null : { kind: "role", role });
            }}
          >
            {exactRole(details.powerLevel) === null && (
              <option value="custom" disabled>
                {levelDescription(details.powerLevel)}
              </option>
            )}
            {details.can.roles.map((r) => (
              <option key={r} value={r}>
                {ROLE_LABELS[r]} (power level {ROLE_LEVELS[r]})
              </option>
            ))}
          </select>
        </div>
      )}

      {pending && (
        <Confirm
          key={pending.kind}
          pending={pending}
          name={details.name}
          busy={busy !== null}
          onCancel={() => setPending(null)}
          onConfirm={(reason) => {
            if (pending.kind === "block") void run("block", () => account.ignoreUser(userId), `Blocking ${details.name} failed. Try again`);
            if (pending.kind === "kick") void run("kick", () => members.removeMember(roomId, userId, reason), `Removing ${details.name} failed`);
            if (pending.kind === "ban") void run("ban", () => members.banMember(roomId, userId, reason), `Banning ${details.name} failed`);
            if (pending.kind === "role")
              void run("role", () => members.setMemberLevel(roomId, userId, ROLE_LEVELS[pending.role]), `Changing ${details.name}'s role failed`);
          }}
        />
      )}

      <MemberSessions userId={userId} />
    </div>
  );
}

const CONFIRM_TEXT = {
  block: (name: string) => ({
    question: `Block ${name}?`,
    detail: "You will no longer see their messages or invitations, anywhere. Unblock here or in Settings.",
    button: "Block",
  }),
  kick: (name: string) => ({
    question: `Remove ${name} from this conversation?`,
    detail: "They can come back if they are invited again.",
    button: "Remove",
  }),
  ban: (name: string) => ({
    question: `Ban ${name}?`,
    detail: "They are removed and cannot join again until someone unbans them.",
    button: "Ban",
  }),
};

function Confirm({ pending, name, busy, onCancel, onConfirm }: {
  pending: Pending;
  name: string;
  busy: boolean;
  onCancel(): void;
  onConfirm(reason: string): void;
}) {
  const [reason, setReason] = useState("");
  const text =
    pending.kind === "role"
      ? {
          question: `Make ${name} ${pending.role === "user" ? "a regular user" : `a ${ROLE_LABELS[pending.role]}`}?`,
          detail: pending.role === "admin" ? "An admin has your power level: you cannot take it back from them later." : "Everyone in the conversation sees the change.",
          button: "Change role",
        }
      : CONFIRM_TEXT[pending.kind](name);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onConfirm(reason);
  };
  return (
    <form role="group" aria-label={text.question} onSubmit={submit} className="mt-4 space-y-2 rounded-lg bg-muted p-3 text-sm">
      <p className="font-medium">{text.question}</p>
      <p className="text-fg-muted">{text.detail}</p>
      {(pending.kind === "kick" || pending.kind === "ban") && (
        <div className="space-y-1">
          <Label htmlFor="member-reason">Reason (optional, everyone sees it)</Label>
          <Input id="member-reason" value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} />
        </div>
      )}
      <div className="flex justify-end gap-2">
        <Button size="sm" variant="ghost" onClick={onCancel}>Cancel</Button>
        <Button size="sm" type="submit" variant={pending.kind === "role" ? "primary" : "danger"} disabled={busy}>
          {text.button}
        </Button>
      </div>
    </form>
  );
}

const TRUST_LABEL: Record<members.DeviceTrust, string> = {
  verified: "Verified",
  signed: "Signed by its owner",
  unsigned: "Not signed by its owner",
};

/** Their sessions (devices) and verification, from the crypto module. */
function MemberSessions({ userId }: { userId: string }) {
  const [trust, setTrust] = useState<members.MemberTrust | null | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    setTrust(undefined);
    setError(null);
    members.memberTrust(userId).then(
      (t) => live && setTrust(t),
      (e) => live && setError(describeError(e)),
    );
    return () => {
      live = false;
    };
  }, [userId]);

  return (
    <section aria-labelledby="member-sessions" className="mt-6">
      <h4 id="member-sessions" className="text-sm font-semibold">Sessions and verification</h4>
      {error && <p role="alert" className="mt-1 text-sm text-danger">Their sessions could not be loaded: {error}</p>}
      {trust === undefined && !error && <ListSkeleton rows={1} label="Loading sessions" />}
      {trust === null && <p className="mt-1 text-sm text-fg-muted">Encryption is not available in this browser.</p>}
      {trust && (
        <>
          <p className="mt-1 text-sm text-fg-muted" data-testid="member-verification">
            {trust.verified
              ? "You verified this person."
              : trust.crossSigning
                ? "Not verified by you."
                : "They have not set up cross-signing, so they cannot be verified."}
          </p>
          {trust.devices.length === 0 ? (
            <p className="mt-2 text-sm text-fg-muted">No sessions with encryption keys.</p>
          ) : (
            <ul aria-label="Their sessions" className="mt-2 space-y-1">
              {trust.devices.map((d) => (
                <li key={d.deviceId} className="flex items-center justify-between gap-2 rounded-lg bg-panel px-3 py-2 text-sm" data-device-trust={d.trust}>
                  <span className="min-w-0">
                    <span className="block truncate">{d.displayName}</span>
                    <span className="block truncate font-mono text-xs text-fg-muted">{d.deviceId}</span>
                  </span>
                  <span className={cn("shrink-0 text-xs", d.trust === "verified" ? "text-green-600 dark:text-green-400" : "text-fg-muted")}>
                    {TRUST_LABEL[d.trust]}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}
