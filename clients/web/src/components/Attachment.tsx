/**
 * An image or file in the timeline. Images are downloaded with authentication, decrypted when the room
 * is encrypted, shown from an object URL, and open in a lightbox. Files are cards with a download button.
 */
import * as DialogPrimitive from "@radix-ui/react-dialog";
import { useEffect, useState } from "react";
import { CloseIcon, DownloadIcon, FileIcon } from "@/components/feature-icons";
import { Button } from "@/components/ui/button";
import { fitWithin, formatBytes, type Attachment } from "@/lib/attachments";
import { attachmentUrl, downloadAttachment } from "@/matrix/media";
import { toastError } from "@/store/ui";

export function AttachmentView({ attachment }: { attachment: Attachment }) {
  return attachment.kind === "image" ? <ImageAttachment attachment={attachment} /> : <FileCard attachment={attachment} />;
}

function useObjectUrl(attachment: Attachment): { url: string | null; error: string | null } {
  const [state, setState] = useState<{ url: string | null; error: string | null }>({ url: null, error: null });
  useEffect(() => {
    let live = true;
    attachmentUrl(attachment).then(
      (url) => live && setState({ url, error: null }),
      (error: Error) => live && setState({ url: null, error: error.message || "The image could not be loaded." }),
    );
    return () => {
      live = false;
    };
  }, [attachment]);
  return state;
}

function ImageAttachment({ attachment }: { attachment: Attachment }) {
  const { url, error } = useObjectUrl(attachment);
  const [open, setOpen] = useState(false);
  const box = fitWithin(attachment.width, attachment.height, 320, 320);
  if (error) {
    return (
      <div role="alert" className="rounded-xl border border-dashed border-border p-3 text-sm text-fg-muted" data-attachment="image-error">
        {attachment.name}: {error}
      </div>
    );
  }
  return (
    <DialogPrimitive.Root open={open} onOpenChange={setOpen}>
      <DialogPrimitive.Trigger asChild>
        <button
          type="button"
          className="block overflow-hidden rounded-xl focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
          style={{ width: box.width, maxWidth: "100%" }}
          aria-label={`Open image ${attachment.name}`}
          disabled={!url}
        >
          {url ? (
            <img
              src={url}
              alt={attachment.name}
              data-attachment="image"
              className="block h-auto w-full"
              style={{ aspectRatio: `${box.width} / ${box.height}` }}
            />
          ) : (
            <span role="status" aria-label={`Loading image ${attachment.name}`}>
              <span className="block animate-pulse bg-muted" style={{ aspectRatio: `${box.width} / ${box.height}` }} />
            </span>
          )}
        </button>
      </DialogPrimitive.Trigger>
      <DialogPrimitive.Portal>
        <DialogPrimitive.Overlay className="fixed inset-0 z-40 bg-black/85" />
        <DialogPrimitive.Content className="fixed inset-0 z-50 flex flex-col items-center justify-center p-4 focus:outline-none">
          <DialogPrimitive.Title className="sr-only">{attachment.name}</DialogPrimitive.Title>
          <DialogPrimitive.Description className="sr-only">The image at full size.</DialogPrimitive.Description>
          <div className="absolute right-3 top-3 flex gap-2">
            <Button variant="secondary" size="icon" aria-label="Download" onClick={() => void save(attachment)}>
              <DownloadIcon />
            </Button>
            <DialogPrimitive.Close asChild>
              <Button variant="secondary" size="icon" aria-label="Close">
                <CloseIcon />
              </Button>
            </DialogPrimitive.Close>
          </div>
          {url && <img src={url} alt={attachment.name} className="max-h-[calc(100dvh-6rem)] max-w-full object-contain" />}
          <p className="mt-2 text-sm text-white/80">
            {attachment.name}
            {attachment.size ? ` · ${formatBytes(attachment.size)}` : ""}
          </p>
        </DialogPrimitive.Content>
      </DialogPrimitive.Portal>
    </DialogPrimitive.Root>
  );
}

async function save(attachment: Attachment): Promise<void> {
  try {
    await downloadAttachment(attachment);
  } catch (error) {
    toastError(`Could not download "${attachment.name}": ${(error as Error).message}. Try again later.`);
  }
}

function FileCard({ attachment }: { attachment: Attachment }) {
  const [busy, setBusy] = useState(false);
  return (
    <div className="flex w-72 max-w-full items-center gap-3 rounded-xl border border-border bg-bg p-3 text-fg" data-attachment="file">
      <span className="text-fg-muted">
        <FileIcon />
      </span>
      <div className="min-w-0 flex-1">
        <div className="truncate text-sm font-medium" title={attachment.name}>
          {attachment.name}
        </div>
        <div className="text-xs text-fg-muted">
          {[attachment.size ? formatBytes(attachment.size) : null, attachment.file ? "Encrypted" : null].filter(Boolean).join(" · ") || "File"}
        </div>
      </div>
      <Button
        variant="secondary"
        size="icon"
        aria-label={`Download ${attachment.name}`}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          await save(attachment);
          setBusy(false);
        }}
      >
        <DownloadIcon />
      </Button>
    </div>
  );
}
