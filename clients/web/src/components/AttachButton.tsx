/**
 * The composer's attach button, plus drag-and-drop and paste of files anywhere in the open conversation.
 * Each file: size checked against the server's limit first, encrypted in encrypted rooms, uploaded with
 * progress (cancellable), then sent. Problems become toasts that say what to do.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { PaperclipIcon, CloseIcon } from "@/components/feature-icons";
import { Button } from "@/components/ui/button";
import { formatBytes } from "@/lib/attachments";
import { describeError } from "@/lib/errors";
import { sendAttachment, UploadTooLargeError } from "@/matrix/media";
import { toastError } from "@/store/ui";

interface Upload {
  id: number;
  name: string;
  size: number;
  progress: number;
  controller: AbortController;
}

let nextUploadId = 1;

export function AttachButton({ roomId, disabled }: { roomId: string; disabled?: boolean }) {
  const input = useRef<HTMLInputElement>(null);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [dragging, setDragging] = useState(false);

  const send = useCallback(
    (files: File[]) => {
      if (disabled) return;
      for (const file of files) {
        const upload: Upload = { id: nextUploadId++, name: file.name, size: file.size, progress: 0, controller: new AbortController() };
        setUploads((list) => [...list, upload]);
        const setProgress = (progress: number) =>
          setUploads((list) => list.map((u) => (u.id === upload.id ? { ...u, progress } : u)));
        sendAttachment(roomId, file, setProgress, upload.controller.signal)
          .catch((error) => {
            if (upload.controller.signal.aborted) return;
            if (error instanceof UploadTooLargeError) toastError(error.message);
            else toastError(`"${file.name}" was not sent: ${describeError(error)}`, { label: "Try again", run: () => send([file]) });
          })
          .finally(() => setUploads((list) => list.filter((u) => u.id !== upload.id)));
      }
    },
    [roomId, disabled],
  );

  useEffect(() => {
    // Files dropped or pasted anywhere while this conversation is open go to it.
    let depth = 0;
    const hasFiles = (e: DragEvent) => [...(e.dataTransfer?.types ?? [])].includes("Files");
    const onEnter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth++;
      setDragging(true);
    };
    const onLeave = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const onOver = (e: DragEvent) => {
      if (hasFiles(e)) e.preventDefault();
    };
    const onDrop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      setDragging(false);
      send([...(e.dataTransfer?.files ?? [])]);
    };
    const onPaste = (e: ClipboardEvent) => {
      const files = [...(e.clipboardData?.files ?? [])];
      if (files.length === 0) return;
      e.preventDefault();
      send(files);
    };
    window.addEventListener("dragenter", onEnter);
    window.addEventListener("dragleave", onLeave);
    window.addEventListener("dragover", onOver);
    window.addEventListener("drop", onDrop);
    document.addEventListener("paste", onPaste);
    return () => {
      window.removeEventListener("dragenter", onEnter);
      window.removeEventListener("dragleave", onLeave);
      window.removeEventListener("dragover", onOver);
      window.removeEventListener("drop", onDrop);
      document.removeEventListener("paste", onPaste);
    };
  }, [send]);

  return (
    <span className="relative shrink-0">
      <input
        ref={input}
        type="file"
        multiple
        className="sr-only"
        tabIndex={-1}
        aria-label="Choose files to send"
        data-testid="attach-input"
        onChange={(e) => {
          send([...(e.target.files ?? [])]);
          e.target.value = "";
        }}
      />
      <Button type="button" variant="ghost" size="icon" aria-label="Attach files" disabled={disabled} onClick={() => input.current?.click()}>
        <PaperclipIcon />
      </Button>
      {uploads.length > 0 && (
        <ul aria-label="Uploads" className="absolute bottom-full left-0 z-10 mb-2 w-72 space-y-2 rounded-lg border border-border bg-bg p-2 shadow-lg">
          {uploads.map((u) => (
            <li key={u.id} className="text-xs">
              <div className="flex items-center gap-2">
                <span className="min-w-0 flex-1 truncate">{u.name}</span>
                <span className="text-fg-muted">{formatBytes(u.size)}</span>
                <button
                  type="button"
                  className="rounded p-0.5 text-fg-muted hover:bg-muted focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
                  aria-label={`Cancel sending ${u.name}`}
                  onClick={() => u.controller.abort()}
                >
                  <CloseIcon />
                </button>
              </div>
              <progress className="mt-1 h-1.5 w-full accent-[var(--color-accent)]" max={1} value={u.progress} aria-label={`Uploading ${u.name}`} />
            </li>
          ))}
        </ul>
      )}
      {dragging && (
        <div className="pointer-events-none fixed inset-0 z-50 flex items-center justify-center bg-accent/20 p-6" aria-hidden="true">
          <div className="rounded-xl border-2 border-dashed border-accent bg-bg px-6 py-4 text-lg font-semibold">Drop to send</div>
        </div>
      )}
    </span>
  );
}
