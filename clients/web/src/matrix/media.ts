/**
 * Media with the SDK: the upload size limit, thumbnails and clip details made in the browser (canvas,
 * <video>/<audio>), uploading attachments and their thumbnails (encrypted in encrypted rooms) with progress,
 * authenticated downloads (`/_matrix/client/v1/media/...` with the access token), decrypting, object URLs for
 * previews, files and avatars.
 */
import type { MatrixClient } from "matrix-js-sdk";
import {
  THUMBNAIL_BOX,
  attachmentContent,
  decryptAttachment,
  encryptAttachment,
  hasTransparentPixel,
  isThumbnailWorthIt,
  mayBeAnimated,
  msgtypeFor,
  posterTime,
  previewSource,
  thumbnailDimensions,
  thumbnailMimetype,
  uploadSizeProblem,
  wantsImageThumbnail,
  type Attachment,
  type AttachmentSource,
  type AttachmentThumbnail,
  type EncryptedFile,
  type EncryptedFileInfo,
  type PreviewSource,
  type UploadedThumbnail,
} from "@/lib/attachments";
import { currentClient, getClient } from "./session";

let mediaConfig: { limit: number | null; fetchedAt: number } | null = null;

/** `m.upload.size` from `GET /_matrix/client/v1/media/config` (cached for 10 minutes); null if the server gives none. */
export async function uploadLimit(): Promise<number | null> {
  if (mediaConfig && Date.now() - mediaConfig.fetchedAt < 600_000) return mediaConfig.limit;
  const config = await getClient().getMediaConfig(true);
  const limit = typeof config["m.upload.size"] === "number" ? config["m.upload.size"] : null;
  mediaConfig = { limit, fetchedAt: Date.now() };
  return limit;
}

// -- sending -------------------------------------------------------------------------------------------

interface MadeThumbnail {
  blob: Blob;
  info: UploadedThumbnail["info"];
}

/** Draws a picture (a decoded image or a video frame) into a thumbnail that fits THUMBNAIL_BOX. */
async function drawThumbnail(picture: CanvasImageSource, width: number, height: number, opaque: boolean): Promise<MadeThumbnail | null> {
  const size = thumbnailDimensions(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = size.width;
  canvas.height = size.height;
  try {
    const ctx = canvas.getContext("2d", { willReadFrequently: !opaque });
    if (!ctx) return null;
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(picture, 0, 0, size.width, size.height);
    const transparent = !opaque && hasTransparentPixel(ctx.getImageData(0, 0, size.width, size.height).data);
    const mimetype = thumbnailMimetype(transparent);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, mimetype, 0.85));
    return blob ? { blob, info: { w: size.width, h: size.height, mimetype, size: blob.size } } : null;
  } finally {
    canvas.width = canvas.height = 0; // frees the pixels at once
  }
}

/** An image's pixel size and, when worth it, a thumbnail (null when the browser cannot decode it). */
async function describeImage(file: File, mimetype: string): Promise<{ width: number; height: number; thumbnail: MadeThumbnail | null } | null> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file); // EXIF orientation applied, as an <img> shows it
  } catch {
    return null;
  }
  try {
    const details = { width: bitmap.width, height: bitmap.height };
    const head = new Uint8Array(await file.slice(0, 64 * 1024).arrayBuffer());
    if (!wantsImageThumbnail({ ...details, size: file.size, animated: mayBeAnimated(mimetype, head) })) return { ...details, thumbnail: null };
    let thumbnail: MadeThumbnail | null = null;
    try {
      thumbnail = await drawThumbnail(bitmap, bitmap.width, bitmap.height, /^image\/jpeg$/i.test(mimetype));
    } catch {
      thumbnail = null; // the image is still sent, without a thumbnail
    }
    return { ...details, thumbnail: thumbnail && isThumbnailWorthIt(file.size, thumbnail.blob.size) ? thumbnail : null };
  } finally {
    bitmap.close();
  }
}

/** Resolves with the first of these events, or null after `ms`. */
function nextEvent(target: EventTarget, events: string[], ms: number): Promise<string | null> {
  return new Promise((resolve) => {
    const finish = (name: string | null) => {
      clearTimeout(timer);
      for (const e of events) target.removeEventListener(e, handlers[e]);
      resolve(name);
    };
    const handlers: Record<string, () => void> = Object.fromEntries(events.map((e) => [e, () => finish(e)]));
    for (const e of events) target.addEventListener(e, handlers[e]);
    const timer = setTimeout(() => finish(null), ms);
  });
}

/** A clip's length in seconds. Browser recordings (MediaRecorder) often say Infinity until played to the end: seek there. */
async function clipDuration(media: HTMLMediaElement): Promise<number | undefined> {
  if (!Number.isFinite(media.duration)) {
    const known = nextEvent(media, ["durationchange", "timeupdate", "error"], 10_000);
    media.currentTime = 1e101;
    await known;
    if (!Number.isFinite(media.duration)) await nextEvent(media, ["durationchange"], 2_000);
  }
  return Number.isFinite(media.duration) && media.duration > 0 ? media.duration : undefined;
}

/** A video's size, length and poster frame, or an audio clip's length; what the browser cannot read is left out. */
async function describeClip(file: File, kind: "video" | "audio"): Promise<{ width?: number; height?: number; durationMs?: number; thumbnail?: MadeThumbnail }> {
  const url = URL.createObjectURL(file);
  const media = document.createElement(kind);
  media.muted = true;
  media.preload = "auto";
  if (media instanceof HTMLVideoElement) media.playsInline = true;
  try {
    const loaded = nextEvent(media, ["loadedmetadata", "error"], 15_000);
    media.src = url;
    if ((await loaded) !== "loadedmetadata") return {};
    const duration = await clipDuration(media);
    const out: { width?: number; height?: number; durationMs?: number; thumbnail?: MadeThumbnail } = {
      durationMs: duration ? Math.round(duration * 1000) : undefined,
    };
    if (!(media instanceof HTMLVideoElement) || !media.videoWidth || !media.videoHeight) return out;
    out.width = media.videoWidth;
    out.height = media.videoHeight;
    const seeked = nextEvent(media, ["seeked", "error"], 10_000);
    media.currentTime = posterTime(duration);
    await seeked;
    if (media.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) await nextEvent(media, ["loadeddata", "canplay"], 10_000);
    if (media.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA) {
      out.thumbnail = (await drawThumbnail(media, media.videoWidth, media.videoHeight, true)) ?? undefined;
    }
    return out;
  } catch {
    return {};
  } finally {
    media.removeAttribute("src");
    media.load();
    URL.revokeObjectURL(url);
  }
}

export class UploadTooLargeError extends Error {}

function cancelled(): DOMException {
  return new DOMException("Cancelled", "AbortError");
}

/** Uploads one blob (encrypted first when `encrypted`): the server learns neither name nor type of an encrypted one. */
async function uploadPart(
  client: MatrixClient,
  data: Blob,
  options: { encrypted: boolean; name: string; mimetype: string; signal: AbortSignal; onProgress: (loaded: number) => void },
): Promise<{ url: string; encrypted?: EncryptedFileInfo }> {
  let body = data;
  let encryptedInfo: EncryptedFileInfo | undefined;
  if (options.encrypted) {
    const result = await encryptAttachment(await data.arrayBuffer());
    body = new Blob([result.data], { type: "application/octet-stream" });
    encryptedInfo = result.info;
  }
  if (options.signal.aborted) throw cancelled();
  const upload = client.uploadContent(body, {
    name: options.encrypted ? undefined : options.name,
    includeFilename: !options.encrypted,
    type: options.encrypted ? "application/octet-stream" : options.mimetype,
    progressHandler: ({ loaded }) => options.onProgress(loaded),
  });
  const abort = () => client.cancelUpload(upload);
  options.signal.addEventListener("abort", abort);
  try {
    return { url: (await upload).content_uri, encrypted: encryptedInfo };
  } finally {
    options.signal.removeEventListener("abort", abort);
  }
}

/**
 * Checks the size against the server's limit FIRST; reads an image's size (and makes a thumbnail when worth
 * it), a video's size, length and poster frame, an audio clip's length; then (in an encrypted room)
 * encrypts, uploads the thumbnail and the file with progress and sends m.image / m.video / m.audio / m.file.
 */
export async function sendAttachment(
  roomId: string,
  file: File,
  onProgress: (fraction: number) => void,
  signal: AbortSignal,
): Promise<void> {
  const client = getClient();
  const problem = uploadSizeProblem(file.name, file.size, await uploadLimit());
  if (problem) throw new UploadTooLargeError(problem);
  const mimetype = file.type || "application/octet-stream";
  const source: AttachmentSource = { name: file.name || "file", mimetype, size: file.size };
  let thumbnail: MadeThumbnail | null | undefined = null;
  const msgtype = msgtypeFor(mimetype);
  if (msgtype === "m.image") {
    const image = await describeImage(file, mimetype);
    if (image) {
      source.width = image.width;
      source.height = image.height;
      thumbnail = image.thumbnail;
    }
  } else if (msgtype === "m.video" || msgtype === "m.audio") {
    const clip = await describeClip(file, msgtype === "m.video" ? "video" : "audio");
    Object.assign(source, { width: clip.width, height: clip.height, durationMs: clip.durationMs });
    thumbnail = clip.thumbnail;
  }
  if (signal.aborted) throw cancelled();
  const encrypted = client.getRoom(roomId)?.hasEncryptionStateEvent() ?? false;
  const total = file.size + (thumbnail?.blob.size ?? 0);
  let uploadedThumbnail: UploadedThumbnail | undefined;
  if (thumbnail) {
    const extension = thumbnail.info.mimetype === "image/png" ? "png" : "jpg";
    const part = await uploadPart(client, thumbnail.blob, {
      encrypted,
      name: `thumbnail.${extension}`,
      mimetype: thumbnail.info.mimetype,
      signal,
      onProgress: (loaded) => onProgress(loaded / total),
    });
    uploadedThumbnail = { ...part, info: thumbnail.info };
  }
  const done = thumbnail?.blob.size ?? 0;
  const main = await uploadPart(client, file, {
    encrypted,
    name: source.name,
    mimetype,
    signal,
    onProgress: (loaded) => onProgress((done + loaded) / total),
  });
  onProgress(1);
  const content = attachmentContent(source, { ...main, thumbnail: uploadedThumbnail });
  await client.sendMessage(roomId, content as never);
}

// -- receiving -----------------------------------------------------------------------------------------

/**
 * Fetches an mxc:// URI with the access token (authenticated media). With a size: the server's thumbnail
 * (`crop` fills the box, as avatars want; `scale` fits in it, as previews want).
 */
export async function fetchMedia(
  mxc: string,
  thumbnail?: { width: number; height: number; method?: "crop" | "scale" },
): Promise<ArrayBuffer> {
  const client = getClient();
  const method = thumbnail ? (thumbnail.method ?? "crop") : undefined;
  const url = client.mxcUrlToHttp(mxc, thumbnail?.width, thumbnail?.height, method, false, true, true);
  if (!url) throw new Error("This file's address is not valid.");
  const response = await fetch(url, { headers: { Authorization: `Bearer ${client.getAccessToken()}` } });
  if (!response.ok) {
    let detail = "";
    try {
      detail = ((await response.json()) as { error?: string }).error ?? "";
    } catch {
      /* not JSON */
    }
    throw new Error(response.status === 404 ? "The file is no longer on the server." : `Download failed (${response.status}) ${detail}`.trim());
  }
  return response.arrayBuffer();
}

/** The plaintext bytes at an mxc URI: downloaded, hash-checked and decrypted when `file` says it is encrypted. */
async function plaintextBytes(mxc: string, file: EncryptedFile | undefined): Promise<ArrayBuffer> {
  const data = await fetchMedia(mxc);
  return file ? decryptAttachment(data, file) : data;
}

/** The attachment's plaintext bytes: downloaded, hash-checked and decrypted when it is encrypted. */
export async function attachmentBytes(attachment: Attachment): Promise<ArrayBuffer> {
  return plaintextBytes(attachment.mxc, attachment.file);
}

const blobUrls = new Map<string, Promise<string>>();

/** One object URL per key (so scrolling does not download again); a failure is forgotten, to be tried again. */
function cachedObjectUrl(key: string, load: () => Promise<ArrayBuffer>, type: string): Promise<string> {
  let url = blobUrls.get(key);
  if (!url) {
    url = load().then((data) => URL.createObjectURL(new Blob([data], { type })));
    url.catch(() => blobUrls.delete(key));
    blobUrls.set(key, url);
  }
  return url;
}

/** An object URL for the attachment itself (decrypted). */
export function attachmentUrl(attachment: Attachment): Promise<string> {
  return cachedObjectUrl(attachment.mxc, () => attachmentBytes(attachment), attachment.mimetype);
}

function thumbnailUrl(thumbnail: AttachmentThumbnail): Promise<string> {
  return cachedObjectUrl(thumbnail.mxc, () => plaintextBytes(thumbnail.mxc, thumbnail.file), thumbnail.mimetype);
}

/**
 * What the timeline shows for an image: the sender's thumbnail (decrypted), else the server's thumbnail of
 * an unencrypted image that is big, else the image itself. A thumbnail that fails falls back to the image.
 */
export async function imagePreview(attachment: Attachment): Promise<{ url: string; source: PreviewSource }> {
  const plan = previewSource(attachment);
  try {
    if (plan === "thumbnail") return { url: await thumbnailUrl(attachment.thumbnail!), source: plan };
    if (plan === "server-thumbnail") {
      const box = { ...THUMBNAIL_BOX, method: "scale" as const };
      const url = await cachedObjectUrl(`${attachment.mxc}#server-thumbnail`, () => fetchMedia(attachment.mxc, box), "");
      return { url, source: plan };
    }
  } catch {
    /* fall back to the image itself */
  }
  return { url: await attachmentUrl(attachment), source: "original" };
}

/** A video's poster: its thumbnail, decrypted (null when it has none or it cannot be loaded). */
export async function videoPoster(attachment: Attachment): Promise<string | null> {
  if (!attachment.thumbnail) return null;
  try {
    return await thumbnailUrl(attachment.thumbnail);
  } catch {
    return null;
  }
}

/** Saves the attachment as a download (decrypted first). */
export async function downloadAttachment(attachment: Attachment): Promise<void> {
  const url = await attachmentUrl(attachment);
  const a = document.createElement("a");
  a.href = url;
  a.download = attachment.name;
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

// -- avatars ---------------------------------------------------------------------------------------

const avatarBlobs = new Map<string, Promise<string | null>>();

/** An object URL of a 96x96 authenticated thumbnail of an avatar (null if it cannot be fetched). */
export function avatarThumbnail(mxc: string): Promise<string | null> {
  let url = avatarBlobs.get(mxc);
  if (!url) {
    url = fetchMedia(mxc, { width: 96, height: 96 })
      .then((data) => URL.createObjectURL(new Blob([data])))
      .catch(() => null);
    avatarBlobs.set(mxc, url);
  }
  return url;
}

/** Every user and room avatar the client knows: id -> mxc. */
export function knownAvatars(client: MatrixClient): Map<string, string> {
  const out = new Map<string, string>();
  for (const room of client.getRooms()) {
    const roomAvatar = room.getMxcAvatarUrl();
    if (roomAvatar) out.set(room.roomId, roomAvatar);
    for (const member of room.getMembers()) {
      const mxc = member.getMxcAvatarUrl();
      if (mxc && !out.has(member.userId)) out.set(member.userId, mxc);
    }
  }
  const me = client.getUser(client.getSafeUserId());
  if (me?.avatarUrl) out.set(me.userId, me.avatarUrl);
  return out;
}

export function forgetMediaCaches(): void {
  for (const url of blobUrls.values()) void url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
  for (const url of avatarBlobs.values()) void url.then((u) => u && URL.revokeObjectURL(u));
  blobUrls.clear();
  avatarBlobs.clear();
  mediaConfig = null;
}

export { currentClient };
