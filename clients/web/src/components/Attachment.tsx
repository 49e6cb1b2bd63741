/**
 * An image, video, audio clip or file in the timeline. Everything is downloaded with authentication and
 * decrypted when the room is encrypted. Images show their thumbnail (the sender's, or the server's for big
 * unencrypted ones) in a box sized from `info.w/h` before anything loads, and the full image only in the
 * lightbox. Videos show their poster (the thumbnail) and download the clip when played; audio clips too.
 * Other files are cards with a download button.
 */
import * as DialogPrimitive from "@radix-ui/react-dialog";
import { useCallback, useEffect, useState } from "react";
import { CloseIcon, DownloadIcon, FileIcon, MusicIcon, PlayIcon } from "@/components/feature-icons";
import { Button } from "@/components/ui/button";
import { fitWithin, formatBytes, formatDuration, type Attachment } from "@/lib/attachments";
import { attachmentUrl, downloadAttachment, imagePreview, videoPoster } from "@/matrix/media";
import { toastError } from "@/store/ui";

export function AttachmentView({ attachment }: { attachment: Attachment }) {
  switch (attachment.kind) {
    case "image":
      return <ImageAttachment attachment={attachment} />;
    case "video":
      return <VideoAttachment attachment={attachment} />;
    case "audio":
      return <AudioAttachment attachment={attachment} />;
    default:
      return <FileCard attachment={attachment} />;
  }
}

interface Loaded<T> {
  value: T | null;
  error: string | null;
}

/** The result of `load` (run again when `key` changes, e.g. other mxc URIs; not run while `load` is null). */
function useLoaded<T>(load: (() => Promise<T>) | null, key: unknown[]): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({ value: null, error: null });
  useEffect(() => {
    if (!load) return;
    let live = true;
    load().then(
      (value) => live && setState({ value, error: null }),
      (error: Error) => live && setState({ value: null, error: error.message || "It could not be loaded." }),
    );
    return () => {
      live = false;
    };
    // `key` lists what `load` depends on (a new closure every render).
  }, key);
  return state;
}

/** The shown box of a picture or video: from `info.w/h`, else the thumbnail's, so nothing jumps when it loads. */
function boxOf(attachment: Attachment) {
  const width = attachment.width ?? attachment.thumbnail?.width;
  const height = attachment.height ?? attachment.thumbnail?.height;
  return { ...fitWithin(width, height, 320, 320), known: Boolean(width && height) };
}

/** "0:12 · 1.5 MB · Encrypted" */
function details(attachment: Attachment): string {
  return [
    attachment.durationMs ? formatDuration(attachment.durationMs) : null,
    attachment.size ? formatBytes(attachment.size) : null,
    attachment.file ? "Encrypted" : null,
  ]
    .filter(Boolean)
    .join(" · ");
}

function ImageAttachment({ attachment }: { attachment: Attachment }) {
  const preview = useLoaded(() => imagePreview(attachment), [attachment.mxc, attachment.thumbnail?.mxc]);
  const [open, setOpen] = useState(false);
  // The full image is downloaded only when the lightbox opens.
  const full = useLoaded(open ? () => attachmentUrl(attachment) : null, [attachment.mxc, open]);
  const box = boxOf(attachment);
  if (preview.error) {
    return (
      <div role="alert" className="rounded-xl border border-dashed border-border p-3 text-sm text-fg-muted" data-attachment="image-error">
        {attachment.name}: {preview.error}
      </div>
    );
  }
  const url = preview.value?.url;
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
              data-preview={preview.value?.source}
              className="block h-auto w-full object-contain"
              style={box.known ? { aspectRatio: `${box.width} / ${box.height}` } : undefined}
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
          {full.value ? (
            <img
              src={full.value}
              alt={attachment.name}
              data-attachment="image-full"
              className="max-h-[calc(100dvh-6rem)] max-w-full object-contain"
            />
          ) : url && !full.error ? (
            // The preview, blurred a little, until the full image is here.
            <img
              src={url}
              alt={attachment.name}
              aria-busy="true"
              data-attachment="image-full-loading"
              className="max-h-[calc(100dvh-6rem)] max-w-full object-contain opacity-70 blur-[1px]"
              style={box.known ? { aspectRatio: `${box.width} / ${box.height}`, width: "min(100%, 64rem)" } : undefined}
            />
          ) : null}
          {full.error && (
            <p role="alert" className="text-sm text-white">
              The full image could not be loaded: {full.error}
            </p>
          )}
          <p className="mt-2 text-sm text-white/80" data-testid="image-details">
            {attachment.name}
            {attachment.width && attachment.height ? ` · ${attachment.width} × ${attachment.height}` : ""}
            {attachment.size ? ` · ${formatBytes(attachment.size)}` : ""}
          </p>
        </DialogPrimitive.Content>
      </DialogPrimitive.Portal>
    </DialogPrimitive.Root>
  );
}

/** A clip downloaded (and decrypted) only when asked for. */
function useClipOnDemand(attachment: Attachment) {
  const [state, setState] = useState<{ url: string | null; loading: boolean; error: string | null }>({ url: null, loading: false, error: null });
  const load = useCallback(async () => {
    setState({ url: null, loading: true, error: null });
    try {
      setState({ url: await attachmentUrl(attachment), loading: false, error: null });
    } catch (error) {
      setState({ url: null, loading: false, error: (error as Error).message || "It could not be loaded." });
    }
  }, [attachment]);
  return { ...state, load };
}

function Spinner() {
  return <span className="block h-5 w-5 animate-spin rounded-full border-2 border-current border-t-transparent" aria-hidden="true" />;
}

function DownloadButton({ attachment }: { attachment: Attachment }) {
  const [busy, setBusy] = useState(false);
  return (
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
  );
}

function VideoAttachment({ attachment }: { attachment: Attachment }) {
  const poster = useLoaded(() => videoPoster(attachment), [attachment.thumbnail?.mxc]);
  const clip = useClipOnDemand(attachment);
  const box = boxOf(attachment);
  const posterUrl = poster.value ?? undefined;
  return (
    <figure className="m-0" style={{ width: box.width, maxWidth: "100%" }} data-attachment="video">
      <div className="relative overflow-hidden rounded-xl bg-black" style={{ aspectRatio: `${box.width} / ${box.height}` }}>
        {clip.url ? (
          <video
            src={clip.url}
            poster={posterUrl}
            controls
            autoPlay
            playsInline
            aria-label={`Video ${attachment.name}`}
            data-attachment="video-player"
            className="block h-full w-full"
          />
        ) : (
          <button
            type="button"
            className="group block h-full w-full focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-inset focus-visible:ring-ring"
            aria-label={`Play video ${attachment.name}`}
            disabled={clip.loading}
            onClick={() => void clip.load()}
          >
            {posterUrl ? (
              <img src={posterUrl} alt="" data-attachment="video-poster" className="block h-full w-full object-contain" />
            ) : (
              <span className="block h-full w-full bg-muted" />
            )}
            <span className="absolute inset-0 flex items-center justify-center">
              <span className="rounded-full bg-black/60 p-3 text-white transition-transform group-hover:scale-110">
                {clip.loading ? <Spinner /> : <PlayIcon size={28} />}
              </span>
            </span>
            {clip.loading && <span role="status" className="sr-only">Loading video {attachment.name}</span>}
          </button>
        )}
      </div>
      <figcaption className="mt-1 flex items-center gap-2 text-xs text-fg-muted">
        <span className="min-w-0 flex-1 truncate" title={attachment.name}>
          {attachment.name}
          {details(attachment) ? ` · ${details(attachment)}` : ""}
        </span>
        <DownloadButton attachment={attachment} />
      </figcaption>
      {clip.error && (
        <p role="alert" className="mt-1 text-sm text-danger">
          The video could not be loaded: {clip.error}
        </p>
      )}
    </figure>
  );
}

function AudioAttachment({ attachment }: { attachment: Attachment }) {
  const clip = useClipOnDemand(attachment);
  return (
    <div className="w-72 max-w-full rounded-xl border border-border bg-bg p-3 text-fg" data-attachment="audio">
      <div className="flex items-center gap-3">
        <span className="text-fg-muted">
          <MusicIcon />
        </span>
        <div className="min-w-0 flex-1">
          <div className="truncate text-sm font-medium" title={attachment.name}>
            {attachment.name}
          </div>
          <div className="text-xs text-fg-muted">{details(attachment) || "Audio"}</div>
        </div>
        {!clip.url && (
          <Button variant="secondary" size="icon" aria-label={`Play ${attachment.name}`} disabled={clip.loading} onClick={() => void clip.load()}>
            {clip.loading ? <Spinner /> : <PlayIcon />}
          </Button>
        )}
        <DownloadButton attachment={attachment} />
      </div>
      {clip.url && (
        <audio src={clip.url} controls autoPlay aria-label={`Audio ${attachment.name}`} data-attachment="audio-player" className="mt-2 block w-full" />
      )}
      {clip.error && (
        <p role="alert" className="mt-1 text-sm text-danger">
          The audio could not be loaded: {clip.error}
        </p>
      )}
    </div>
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
  return (
    <div className="flex w-72 max-w-full items-center gap-3 rounded-xl border border-border bg-bg p-3 text-fg" data-attachment="file">
      <span className="text-fg-muted">
        <FileIcon />
      </span>
      <div className="min-w-0 flex-1">
        <div className="truncate text-sm font-medium" title={attachment.name}>
          {attachment.name}
        </div>
        <div className="text-xs text-fg-muted">{details(attachment) || "File"}</div>
      </div>
      <DownloadButton attachment={attachment} />
    </div>
  );
}
