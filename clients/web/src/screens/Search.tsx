/**
 * Message search, in one conversation or all. The server searches unencrypted conversations; encrypted
 * ones are searched here, in what this device has decrypted, and the dialog says so.
 */
import { useEffect, useState } from "react";
import { ListSkeleton } from "@/components/Skeleton";
import { Avatar } from "@/components/ui/avatar";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { describeError } from "@/lib/errors";
import { highlightParts, searchScopeNote } from "@/lib/search";
import { timeLabel } from "@/lib/timeline";
import * as account from "@/matrix/account";
import { useUiStore } from "@/store/ui";
import { openRoom } from "./RoomList";

export function SearchDialog() {
  const open = useUiStore((s) => s.searchOpen);
  const close = () => useUiStore.getState().setSearchOpen(null);
  return (
    <Dialog open={open !== null} onOpenChange={(o) => !o && close()}>
      {open && (
        <DialogContent title="Search messages" className="max-w-xl">
          <SearchPanel initialRoomId={open.roomId} onClose={close} />
        </DialogContent>
      )}
    </Dialog>
  );
}

function SearchPanel({ initialRoomId, onClose }: { initialRoomId: string | null; onClose(): void }) {
  const [term, setTerm] = useState("");
  const [scope, setScope] = useState<string | null>(initialRoomId);
  const [outcome, setOutcome] = useState<account.SearchOutcome | null>(null);
  const [searching, setSearching] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const q = term.trim();
    if (!q) {
      setOutcome(null);
      setSearching(false);
      return;
    }
    let live = true;
    setSearching(true);
    const timer = setTimeout(() => {
      account.searchMessages(q, scope).then(
        (o) => live && (setOutcome(o), setError(null)),
        (e) => live && setError(describeError(e)),
      ).finally(() => live && setSearching(false));
    }, 300);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [term, scope]);

  const note = outcome ? searchScopeNote(outcome.encryptedRooms, outcome.localMessages) : null;
  return (
    <div className="space-y-3">
      <Input type="search" autoFocus aria-label="Search for" placeholder="Search for…" value={term} onChange={(e) => setTerm(e.target.value)} />
      {initialRoomId && (
        <fieldset className="flex gap-4 text-sm">
          <legend className="sr-only">Where to search</legend>
          <label className="flex items-center gap-1.5">
            <input type="radio" name="search-scope" checked={scope === initialRoomId} onChange={() => setScope(initialRoomId)} />
            This conversation
          </label>
          <label className="flex items-center gap-1.5">
            <input type="radio" name="search-scope" checked={scope === null} onChange={() => setScope(null)} />
            All conversations
          </label>
        </fieldset>
      )}
      {note && (
        <p className="rounded-lg bg-muted p-2 text-xs" data-testid="search-scope-note">
          {note}
        </p>
      )}
      {outcome?.serverError && (
        <p role="alert" className="text-xs text-danger">
          The server search failed ({outcome.serverError}); only this device's messages are shown. Try again in a moment.
        </p>
      )}
      {error && <p role="alert" className="text-sm text-danger">{error}</p>}
      {searching && !outcome && <ListSkeleton rows={3} label="Searching" />}
      {outcome && outcome.hits.length === 0 && !searching && (
        <p className="py-6 text-center text-sm text-fg-muted">No messages match “{term.trim()}”.</p>
      )}
      {outcome && outcome.hits.length > 0 && (
        <ul aria-label="Search results" className="max-h-[55dvh] space-y-1 overflow-y-auto" aria-busy={searching}>
          {outcome.hits.map((hit) => {
            const [before, match, after] = highlightParts(hit);
            return (
              <li key={hit.eventId}>
                <button
                  type="button"
                  className="flex w-full gap-3 rounded-lg p-2 text-left hover:bg-muted focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
                  onClick={() => {
                    onClose();
                    // The conversation opens scrolled to the message (loading the history around it).
                    openRoom(hit.roomId);
                    useUiStore.getState().setJumpTarget({ roomId: hit.roomId, eventId: hit.eventId });
                  }}
                >
                  <Avatar id={hit.sender} name={hit.senderName} size={32} />
                  <span className="min-w-0 flex-1">
                    <span className="flex gap-2 text-xs text-fg-muted">
                      <span className="truncate font-semibold">{hit.senderName}</span>
                      {scope === null && <span className="truncate">in {account.roomName(hit.roomId)}</span>}
                      <span className="ml-auto shrink-0">
                        {new Date(hit.ts).toLocaleDateString()} {timeLabel(hit.ts)}
                        {hit.source === "local" ? " · on this device" : ""}
                      </span>
                    </span>
                    <span className="line-clamp-2 text-sm">
                      {before}
                      <mark className="rounded bg-accent/25 text-fg">{match}</mark>
                      {after}
                    </span>
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
