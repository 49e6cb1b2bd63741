import { useEffect, useState, type FormEvent } from "react";
import { PencilIcon, UsersPlusIcon } from "@/components/icons";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogTrigger } from "@/components/ui/dialog";
import { Input, Label } from "@/components/ui/input";
import { describeError } from "@/lib/errors";
import { parseUserList, toUserId } from "@/lib/ids";
import * as session from "@/matrix/session";
import { useAppStore } from "@/store/app";
import { openRoom } from "./RoomList";

export function NewChatDialog() {
  const [open, setOpen] = useState(false);
  const [term, setTerm] = useState("");
  const [results, setResults] = useState<session.DirectoryUser[]>([]);
  const [searching, setSearching] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [starting, setStarting] = useState<string | null>(null);
  const directoryAvailable = useAppStore((s) => s.userDirectoryAvailable);
  const me = useAppStore((s) => s.session?.userId ?? "");

  useEffect(() => {
    if (!open) return;
    const q = term.trim();
    if (!q) {
      setResults([]);
      setSearching(false);
      return;
    }
    let cancelled = false;
    setSearching(true); // from the first key press, so "No one found" never flashes during the pause
    const timer = setTimeout(async () => {
      setError(null);
      try {
        const found = (await session.searchUsers(q)) ?? [];
        // A full user ID is always offered, even when the directory does not know it.
        const typed = toUserId(q, me);
        const exact = q.startsWith("@") && typed && !found.some((u) => u.userId === typed);
        const extra = exact ? await session.lookUpUser(typed) : null;
        const list = [...(extra ? [extra] : exact ? [{ userId: typed }] : []), ...found].filter((u) => u.userId !== me);
        if (!cancelled) setResults(list);
      } catch (err) {
        if (!cancelled) setError(describeError(err));
      } finally {
        if (!cancelled) setSearching(false);
      }
    }, 250);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [term, open, me]);

  async function start(userId: string) {
    setStarting(userId);
    setError(null);
    try {
      const roomId = await session.startDirectMessage(userId);
      setOpen(false);
      setTerm("");
      openRoom(roomId);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setStarting(null);
    }
  }

  return (
    <Dialog open={open} onOpenChange={setOpen}>
      <DialogTrigger asChild>
        <Button variant="ghost" size="icon" aria-label="New chat" title="New chat">
          <PencilIcon />
        </Button>
      </DialogTrigger>
      <DialogContent
        title="New chat"
        description={
          directoryAvailable === false
            ? "User search is not available on this server: type a full user ID, like @alice:example.org."
            : "Search by name or user ID."
        }
      >
        <Input
          autoFocus
          type="search"
          aria-label="Search people"
          placeholder="Name or @user:server"
          value={term}
          onChange={(e) => setTerm(e.target.value)}
        />
        <ul className="mt-3 max-h-72 overflow-y-auto" aria-label="People" aria-busy={searching}>
          {results.map((user) => (
            <li key={user.userId}>
              <button
                type="button"
                disabled={starting !== null}
                onClick={() => void start(user.userId)}
                className="flex w-full items-center gap-3 rounded-lg px-2 py-2 text-left hover:bg-muted focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring disabled:opacity-60"
              >
                <Avatar id={user.userId} name={user.displayName || user.userId} size={36} />
                <span className="min-w-0 flex-1">
                  <span className="block truncate font-medium">{user.displayName || user.userId}</span>
                  <span className="block truncate text-sm text-fg-muted">{user.userId}</span>
                </span>
                {starting === user.userId && <span className="text-sm text-fg-muted">Starting…</span>}
              </button>
            </li>
          ))}
          {!searching && term.trim() && results.length === 0 && !error && (
            <li className="px-2 py-3 text-sm text-fg-muted">No one found.</li>
          )}
        </ul>
        {error && (
          <p role="alert" className="mt-2 text-sm text-danger">
            {error}
          </p>
        )}
      </DialogContent>
    </Dialog>
  );
}

export function NewGroupDialog() {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [topic, setTopic] = useState("");
  const [invitees, setInvitees] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const me = useAppStore((s) => s.session?.userId ?? "");

  async function submit(e: FormEvent) {
    e.preventDefault();
    const { userIds, invalid } = parseUserList(invitees, me);
    if (invalid.length) {
      setError(`Not a user ID: ${invalid.join(", ")}`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const roomId = await session.createGroup(name, topic, userIds);
      setOpen(false);
      setName("");
      setTopic("");
      setInvitees("");
      openRoom(roomId);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog open={open} onOpenChange={setOpen}>
      <DialogTrigger asChild>
        <Button variant="ghost" size="icon" aria-label="New group" title="New group">
          <UsersPlusIcon />
        </Button>
      </DialogTrigger>
      <DialogContent title="New group" description="Messages in the group are end-to-end encrypted.">
        <form onSubmit={submit} className="space-y-4">
          <div className="space-y-1">
            <Label htmlFor="group-name">Name</Label>
            <Input id="group-name" required value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="space-y-1">
            <Label htmlFor="group-topic">Topic (optional)</Label>
            <Input id="group-topic" value={topic} onChange={(e) => setTopic(e.target.value)} />
          </div>
          <div className="space-y-1">
            <Label htmlFor="group-invitees">Invite (user IDs, separated by commas)</Label>
            <Input
              id="group-invitees"
              placeholder="@alice:example.org, bob"
              value={invitees}
              onChange={(e) => setInvitees(e.target.value)}
            />
          </div>
          {error && (
            <p role="alert" className="text-sm text-danger">
              {error}
            </p>
          )}
          <Button type="submit" className="w-full" disabled={busy || !name.trim()}>
            {busy ? "Creating…" : "Create group"}
          </Button>
        </form>
      </DialogContent>
    </Dialog>
  );
}
