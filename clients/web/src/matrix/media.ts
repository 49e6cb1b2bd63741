/**
 * Media with the SDK: the upload size limit, uploading attachments (encrypted in encrypted rooms) with
 * progress, authenticated downloads (`/_matrix/client/v1/media/...` with the access token), decrypting,
 * object URLs for images and avatars.
 */
import type { MatrixClient } from "matrix-js-sdk";
import {
  attachmentContent,
  decryptAttachment,
  encryptAttachment,
  isInlineImage,
  uploadSizeProblem,
  type Attachment,
  type AttachmentSource,
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

/** Pixel size of an image file (null when the browser cannot read it). */
async function imageSize(file: Blob): Promise<{ width: number; height: number } | null> {
  try {
    const bitmap = await createImageBitmap(file);
    const size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
    return size;
  } catch {
    return null;
  }
}

export interface UploadHandle {
  /** Resolves when the message was handed to the SDK to send. */
  done: Promise<void>;
  cancel(): void;
}

export class UploadTooLargeError extends Error {}

/**
 * Checks the size against the server's limit FIRST, then (in an encrypted room) encrypts, uploads with
 * progress and sends `m.image` / `m.file`.
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
  if (isInlineImage(mimetype)) {
    const size = await imageSize(file);
    if (size) Object.assign(source, size);
  }
  const encrypted = client.getRoom(roomId)?.hasEncryptionStateEvent() ?? false;
  let body: Blob = file;
  let encryptedInfo;
  if (encrypted) {
    const result = await encryptAttachment(await file.arrayBuffer());
    body = new Blob([result.data], { type: "application/octet-stream" });
    encryptedInfo = result.info;
  }
  if (signal.aborted) throw new DOMException("Cancelled", "AbortError");
  const upload = client.uploadContent(body, {
    // The server must not learn the name or type of an encrypted file.
    name: encrypted ? undefined : source.name,
    includeFilename: !encrypted,
    type: encrypted ? "application/octet-stream" : mimetype,
    progressHandler: ({ loaded, total }) => onProgress(total ? loaded / total : 0),
  });
  const abort = () => client.cancelUpload(upload);
  signal.addEventListener("abort", abort);
  let url: string;
  try {
    url = (await upload).content_uri;
  } finally {
    signal.removeEventListener("abort", abort);
  }
  onProgress(1);
  const content = attachmentContent(source, { url, encrypted: encryptedInfo });
  await client.sendMessage(roomId, content as never);
}

/** Fetches an mxc:// URI with the access token (authenticated media); thumbnails when a size is given. */
export async function fetchMedia(mxc: string, thumbnail?: { width: number; height: number }): Promise<ArrayBuffer> {
  const client = getClient();
  const url = client.mxcUrlToHttp(mxc, thumbnail?.width, thumbnail?.height, thumbnail ? "crop" : undefined, false, true, true);
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

/** The attachment's plaintext bytes: downloaded, hash-checked and decrypted when it is encrypted. */
export async function attachmentBytes(attachment: Attachment): Promise<ArrayBuffer> {
  const data = await fetchMedia(attachment.mxc);
  return attachment.file ? decryptAttachment(data, attachment.file) : data;
}

const blobUrls = new Map<string, Promise<string>>();

/** An object URL for the attachment (cached per mxc, so scrolling does not download again). */
export function attachmentUrl(attachment: Attachment): Promise<string> {
  let url = blobUrls.get(attachment.mxc);
  if (!url) {
    url = attachmentBytes(attachment).then((data) => URL.createObjectURL(new Blob([data], { type: attachment.mimetype })));
    url.catch(() => blobUrls.delete(attachment.mxc));
    blobUrls.set(attachment.mxc, url);
  }
  return url;
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
