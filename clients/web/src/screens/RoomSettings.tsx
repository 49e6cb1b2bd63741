/** A conversation's settings: name, topic, avatar, invite someone, leave. */
import { useRef, useState, type FormEvent } from "react";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import { Input, Label } from "@/components/ui/input";
import { fieldClass } from "@/components/ui/input";
import { cn } from "@/lib/cn";
import { describeError } from "@/lib/errors";
import { toUserId } from "@/lib/ids";
import * as account from "@/matrix/account";
import { useAppStore } from "@/store/app";
import { useUiStore } from "@/store/ui";

export function RoomSettingsDialog() {
  const roomId = useUiStore((s) => s.roomSettingsRoomId);
  const close = () => useUiStore.getState().setRoomSettingsRoomId(null);
  return (
    <Dialog open={roomId !== null} onOpenChange={(open) => !open && close()}>
      {roomId && (
        <DialogContent title="Conversation details">
          <RoomSettingsForm roomId={roomId} onClose={close} />
        </DialogContent>
      )}
    </Dialog>
  );
}

function RoomSettingsForm({ roomId, onClose }: { roomId: string; onClose(): void }) {
  const details = account.roomDetails(roomId);
  const me = useAppStore((s) => s.session?.userId ?? "");
  const [name, setName] = useState(details?.name ?? "");
  const [topic, setTopic] = useState(details?.topic ?? "");
  const [invitee, setInvitee] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [ok, setOk] = useState<string | null>(null);
  const [leaving, setLeaving] = useState(false);
  const file = useRef<HTMLInputElement>(null);
  if (!details) return <p className="text-sm">This conversation is not available any more.</p>;

  const run = async (fn: () => Promise<void>, done: string) => {
    setBusy(true);
    setError(null);
    setOk(null);
    try {
      await fn();
      setOk(done);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  const save = (e: FormEvent) => {
    e.preventDefault();
    void run(() => account.saveRoomDetails(roomId, details, name, topic), "Saved.");
  };
  const invite = (e: FormEvent) => {
    e.preventDefault();
    const userId = toUserId(invitee.trim(), me);
    if (!userId) {
      setError("Type a user ID like @name:server.");
      return;
    }
    void run(async () => {
      await account.inviteUser(roomId, userId);
      setInvitee("");
    }, `Invited ${userId}.`);
  };

  return (
    <div className="space-y-5">
      <form onSubmit={save} className="space-y-3">
        <div className="flex items-center gap-3">
          <Avatar id={roomId} name={name || "?"} size={56} />
          <input ref={file} type="file" accept="image/png,image/jpeg,image/gif,image/webp" className="sr-only" tabIndex={-1}
            aria-label="Conversation avatar image"
            onChange={(e) => e.target.files?.[0] && void run(() => account.setRoomAvatar(roomId, e.target.files![0]), "Avatar updated.")} />
          <Button size="sm" variant="secondary" disabled={busy || !details.canEdit.avatar} onClick={() => file.current?.click()}>
            Change avatar
          </Button>
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="room-name">Name</Label>
          <Input id="room-name" value={name} onChange={(e) => setName(e.target.value)} disabled={!details.canEdit.name} maxLength={255} />
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="room-topic">Topic</Label>
          <textarea id="room-topic" value={topic} onChange={(e) => setTopic(e.target.value)} disabled={!details.canEdit.topic}
            rows={2} className={cn(fieldClass, "py-2")} />
        </div>
        {!details.canEdit.name && <p className="text-xs text-fg-muted">Only moderators can change the name and topic here.</p>}
        <div className="flex justify-end">
          <Button type="submit" disabled={busy || (name.trim() === details.name && topic.trim() === details.topic)}>Save</Button>
        </div>
      </form>
      {details.canEdit.invite && (
        <form onSubmit={invite} className="space-y-1.5">
          <Label htmlFor="room-invite">Invite someone</Label>
          <div className="flex gap-2">
            <Input id="room-invite" placeholder="@name:server" value={invitee} onChange={(e) => setInvitee(e.target.value)} />
            <Button type="submit" variant="secondary" disabled={busy || !invitee.trim()}>Invite</Button>
          </div>
        </form>
      )}
      {error && <p role="alert" className="text-sm text-danger">{error}</p>}
      {ok && <p role="status" className="text-sm text-fg-muted">{ok}</p>}
      <div className="border-t border-border pt-4">
        {leaving ? (
          <div className="flex flex-wrap items-center gap-2 text-sm">
            <span className="flex-1">Leave this conversation? {details.encrypted ? "You may not be able to read it again." : ""}</span>
            <Button size="sm" variant="ghost" onClick={() => setLeaving(false)}>Cancel</Button>
            <Button size="sm" variant="danger" disabled={busy}
              onClick={() => void run(async () => {
                await account.leaveRoom(roomId);
                onClose();
                useAppStore.getState().selectRoom(null);
              }, "Left.")}>
              Leave
            </Button>
          </div>
        ) : (
          <Button variant="danger" size="sm" onClick={() => setLeaving(true)}>Leave conversation</Button>
        )}
      </div>
    </div>
  );
}
