/** The "(edited)" dialog: every version of a message, newest first, with the original last. */
import { useEffect, useState } from "react";
import { Dialog, DialogContent } from "@/components/ui/dialog";
import { describeError } from "@/lib/errors";
import { versionLabel, type MessageVersion } from "@/lib/edit-history";
import { timeLabel, type TimelineMessage } from "@/lib/timeline";
import { loadEditHistory } from "@/matrix/edit-history";
import { FormattedBody } from "./FormattedBody";

export function EditHistoryDialog({ roomId, message, onClose }: { roomId: string; message: TimelineMessage | null; onClose(): void }) {
  return (
    <Dialog open={message !== null} onOpenChange={(open) => !open && onClose()}>
      {message && (
        <DialogContent title="Edit history" description={`Versions of ${message.own ? "your" : `${message.senderName}’s`} message, newest first.`} className="max-w-lg">
          <Versions roomId={roomId} eventId={message.eventId} />
        </DialogContent>
      )}
    </Dialog>
  );
}

function Versions({ roomId, eventId }: { roomId: string; eventId: string }) {
  const [versions, setVersions] = useState<MessageVersion[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    loadEditHistory(roomId, eventId).then(
      (v) => live && setVersions(v),
      (e) => live && setProblem(describeError(e)),
    );
    return () => {
      live = false;
    };
  }, [roomId, eventId]);

  if (problem) return <p role="alert" className="text-sm text-danger">The history could not be loaded: {problem}</p>;
  if (!versions) return <p className="py-6 text-center text-sm text-fg-muted">Loading the versions…</p>;
  return (
    <ol aria-label="Versions" className="max-h-[60dvh] space-y-2 overflow-y-auto">
      {versions.map((version, index) => (
        <li key={version.eventId} className="rounded-lg bg-muted px-3 py-2" data-version={version.original ? "original" : "edit"}>
          <p className="flex gap-2 text-xs text-fg-muted">
            <span className="font-semibold">{versionLabel(versions, index)}</span>
            <time className="ml-auto" dateTime={new Date(version.ts).toISOString()}>
              {new Date(version.ts).toLocaleDateString()} {timeLabel(version.ts)}
            </time>
          </p>
          {version.problem ? (
            <p className="mt-1 text-sm italic text-fg-muted">{version.problem}</p>
          ) : version.html ? (
            <div className="mt-1 break-words text-sm">
              <FormattedBody html={version.html} />
            </div>
          ) : (
            <p className="mt-1 whitespace-pre-wrap break-words text-sm">{version.body}</p>
          )}
        </li>
      ))}
    </ol>
  );
}
