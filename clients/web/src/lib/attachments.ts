/**
 * Files and images in messages, without the SDK: encrypting attachments as the spec's "Sending encrypted
 * attachments" says (AES-256-CTR, a random 64-bit IV followed by a zero 64-bit counter, the key as a JWK,
 * the SHA-256 of the ciphertext), checking sizes, the thumbnail rules (size, type, when one is worth it),
 * building and reading the message content (m.image, m.video, m.audio, m.file with their thumbnails).
 * Uses only the Web Crypto API, so the same code runs in the browser and in Node (the unit tests).
 */

/** The spec's EncryptedFile (without `url`, which is known only after the upload). */
export interface EncryptedFileInfo {
  v: "v2";
  key: { alg: "A256CTR"; ext: true; k: string; key_ops: string[]; kty: "oct" };
  iv: string;
  hashes: { sha256: string };
}

export interface EncryptedFile extends EncryptedFileInfo {
  url: string;
}

/** Unpadded standard base64, as the spec wants for `iv` and `hashes`. */
export function toUnpaddedBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary).replace(/=+$/, "");
}

/** Accepts padded or unpadded, standard or URL-safe base64 (senders differ). */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const standard = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = standard + "=".repeat((4 - (standard.length % 4)) % 4);
  const binary = atob(padded);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

async function sha256(data: ArrayBuffer | Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

/** Encrypts one file with a fresh key and IV (never reused: one call, one key). */
export async function encryptAttachment(
  plaintext: ArrayBuffer | Uint8Array<ArrayBuffer>,
): Promise<{ data: ArrayBuffer; info: EncryptedFileInfo }> {
  const iv = new Uint8Array(16);
  // The first 8 bytes are random; the last 8 are the block counter, which MUST start at zero.
  crypto.getRandomValues(iv.subarray(0, 8));
  const key = await crypto.subtle.generateKey({ name: "AES-CTR", length: 256 }, true, ["encrypt", "decrypt"]);
  const data = await crypto.subtle.encrypt({ name: "AES-CTR", counter: iv, length: 64 }, key, plaintext);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  return {
    data,
    info: {
      v: "v2",
      key: { alg: "A256CTR", ext: true, k: jwk.k!, key_ops: ["encrypt", "decrypt"], kty: "oct" },
      iv: toUnpaddedBase64(iv),
      hashes: { sha256: toUnpaddedBase64(await sha256(data)) },
    },
  };
}

export class AttachmentIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AttachmentIntegrityError";
  }
}

/** Checks the ciphertext's hash (the spec's MUST, so the server cannot swap the file), then decrypts. */
export async function decryptAttachment(
  ciphertext: ArrayBuffer | Uint8Array<ArrayBuffer>,
  info: Pick<EncryptedFileInfo, "key" | "iv" | "hashes"> & { v?: string },
): Promise<ArrayBuffer> {
  if (info.v !== undefined && info.v !== "v2") throw new AttachmentIntegrityError(`Unsupported attachment version ${info.v}.`);
  const expected = info.hashes?.sha256;
  if (!expected) throw new AttachmentIntegrityError("The attachment has no SHA-256 hash.");
  const actual = toUnpaddedBase64(await sha256(ciphertext));
  if (actual !== expected.replace(/=+$/, "")) {
    throw new AttachmentIntegrityError("The file does not match its hash: it was changed or damaged on the server.");
  }
  const iv = fromBase64(info.iv);
  if (iv.length !== 16) throw new AttachmentIntegrityError("The attachment's IV is not 16 bytes.");
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "oct", alg: "A256CTR", k: info.key.k, ext: true, key_ops: ["encrypt", "decrypt"] },
    { name: "AES-CTR" },
    false,
    ["decrypt"],
  );
  return crypto.subtle.decrypt({ name: "AES-CTR", counter: iv, length: 64 }, key, ciphertext);
}

/** "512 B", "1.5 KB", "12.3 MB" (powers of 1024, like the server's `m.upload.size`). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = value >= 100 ? value.toFixed(0) : value.toFixed(1).replace(/\.0$/, "");
  return `${text} ${units[unit]}`;
}

/** A person-readable reason why this file cannot be sent, or null when it fits. */
export function uploadSizeProblem(name: string, size: number, limit: number | null | undefined): string | null {
  if (size === 0) return `"${name}" is empty.`;
  if (limit === null || limit === undefined || limit <= 0) return null;
  if (size <= limit) return null;
  return `"${name}" is ${formatBytes(size)}; this server accepts files up to ${formatBytes(limit)}. Send a smaller file.`;
}

/** Images the browser can show inline; others are sent as files. */
export function isInlineImage(mimetype: string): boolean {
  return /^image\/(png|jpeg|gif|webp|avif|bmp)$/i.test(mimetype);
}

export type FileMsgtype = "m.image" | "m.video" | "m.audio" | "m.file";

/** The msgtype a file of this type is sent as: pictures the browser draws, any video, any audio, else a file. */
export function msgtypeFor(mimetype: string): FileMsgtype {
  if (isInlineImage(mimetype)) return "m.image";
  if (/^video\//i.test(mimetype)) return "m.video";
  if (/^audio\//i.test(mimetype)) return "m.audio";
  return "m.file";
}

// -- thumbnails (sending) ---------------------------------------------------------------------------

/** Thumbnails are made to fit this box (the largest of the spec's suggested thumbnail sizes). */
export const THUMBNAIL_BOX = { width: 800, height: 600 } as const;
/** Images that fit the box still get a thumbnail when they are at least this big (a large PNG photo). */
export const THUMBNAIL_MIN_SOURCE_BYTES = 256 * 1024;

/** The thumbnail's pixel size: fits the box, keeps the aspect ratio, never upscales. */
export function thumbnailDimensions(
  width: number,
  height: number,
  box: { width: number; height: number } = THUMBNAIL_BOX,
): { width: number; height: number } {
  const scale = Math.min(1, box.width / width, box.height / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Whether an image is worth a thumbnail: it is larger than the box or heavy, and not animated (a still
 * thumbnail would stop the animation in the timeline).
 */
export function wantsImageThumbnail(source: { width: number; height: number; size: number; animated: boolean }): boolean {
  if (source.animated) return false;
  const exceedsBox = source.width > THUMBNAIL_BOX.width || source.height > THUMBNAIL_BOX.height;
  return exceedsBox || source.size >= THUMBNAIL_MIN_SOURCE_BYTES;
}

/** An image's thumbnail is kept only when it is meaningfully smaller: at most half the original's bytes. */
export function isThumbnailWorthIt(originalBytes: number, thumbnailBytes: number): boolean {
  return thumbnailBytes > 0 && thumbnailBytes * 2 <= originalBytes;
}

/** JPEG, unless the picture has transparent pixels (then PNG, which keeps them). */
export function thumbnailMimetype(hasTransparency: boolean): "image/png" | "image/jpeg" {
  return hasTransparency ? "image/png" : "image/jpeg";
}

/** Whether RGBA pixel data (a canvas's `getImageData().data`) has any pixel that is not fully opaque. */
export function hasTransparentPixel(rgba: ArrayLike<number>): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return true;
  return false;
}

const ascii = (bytes: Uint8Array, at: number, text: string) =>
  text.length + at <= bytes.length && [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));

/**
 * Whether an image file may be animated, from its first bytes: every GIF (telling needs a full parse), a
 * PNG with an `acTL` chunk (APNG), a WebP whose VP8X header has the animation flag.
 */
export function mayBeAnimated(mimetype: string, head: Uint8Array): boolean {
  const type = mimetype.toLowerCase();
  if (type === "image/gif") return true;
  if (type === "image/png" || type === "image/apng") {
    // Chunks after the 8-byte signature: length, type, data, CRC. acTL must come before the first IDAT.
    let at = 8;
    while (at + 8 <= head.length) {
      const length = ((head[at] << 24) | (head[at + 1] << 16) | (head[at + 2] << 8) | head[at + 3]) >>> 0;
      if (ascii(head, at + 4, "acTL")) return true;
      if (ascii(head, at + 4, "IDAT")) return false;
      at += 12 + length;
    }
    return false;
  }
  if (type === "image/webp") return ascii(head, 0, "RIFF") && ascii(head, 8, "WEBPVP8X") && (head[20] & 0x02) !== 0;
  return false;
}

/** Where in a video the poster frame is taken: a quarter in, at most one second (the very first frame is often black). */
export function posterTime(durationSeconds: number | undefined): number {
  if (!durationSeconds || !Number.isFinite(durationSeconds) || durationSeconds <= 0) return 0;
  return Math.min(1, durationSeconds / 4);
}

// -- message content ----------------------------------------------------------------------------------

export interface AttachmentSource {
  name: string;
  mimetype: string;
  size: number;
  /** Pixel size, for images and videos. */
  width?: number;
  height?: number;
  /** Length of a video or audio clip, in milliseconds. */
  durationMs?: number;
}

/** An uploaded thumbnail: `encrypted` (then `thumbnail_file`) in encrypted rooms, else `thumbnail_url`. */
export interface UploadedThumbnail {
  url: string;
  encrypted?: EncryptedFileInfo;
  info: { w: number; h: number; mimetype: string; size: number };
}

const positiveInt = (v: number | undefined) => (v !== undefined && Number.isFinite(v) && v > 0 ? Math.round(v) : undefined);

/**
 * The `m.room.message` content for an uploaded file (m.image, m.video, m.audio or m.file by its type):
 * `file` replaces `url` and `thumbnail_file` replaces `thumbnail_url` when encrypted.
 */
export function attachmentContent(
  source: AttachmentSource,
  upload: { url: string; encrypted?: EncryptedFileInfo; thumbnail?: UploadedThumbnail },
): Record<string, unknown> {
  const msgtype = msgtypeFor(source.mimetype);
  const info: Record<string, unknown> = { mimetype: source.mimetype || "application/octet-stream", size: source.size };
  const visual = msgtype === "m.image" || msgtype === "m.video";
  const w = positiveInt(source.width);
  const h = positiveInt(source.height);
  if (visual && w && h) {
    info.w = w;
    info.h = h;
  }
  const duration = positiveInt(source.durationMs);
  if ((msgtype === "m.video" || msgtype === "m.audio") && duration) info.duration = duration;
  const thumbnail = upload.thumbnail;
  if (visual && thumbnail) {
    if (Boolean(thumbnail.encrypted) !== Boolean(upload.encrypted)) {
      throw new Error("A thumbnail must be encrypted exactly when its file is.");
    }
    info.thumbnail_info = { ...thumbnail.info };
    if (thumbnail.encrypted) info.thumbnail_file = { ...thumbnail.encrypted, url: thumbnail.url };
    else info.thumbnail_url = thumbnail.url;
  }
  const where = upload.encrypted ? { file: { ...upload.encrypted, url: upload.url } } : { url: upload.url };
  return {
    msgtype,
    body: source.name,
    filename: source.name,
    info,
    ...where,
  };
}

/** A thumbnail of an image or video, as read from an event. */
export interface AttachmentThumbnail {
  mxc: string;
  file?: EncryptedFile;
  mimetype: string;
  width?: number;
  height?: number;
  size?: number;
}

/** What the timeline needs to draw an attachment (plain data, read from an event's content). */
export interface Attachment {
  kind: "image" | "video" | "audio" | "file";
  name: string;
  mimetype: string;
  size?: number;
  width?: number;
  height?: number;
  /** Length of a video or audio clip, in milliseconds. */
  durationMs?: number;
  /** The mxc:// URI (of the ciphertext when `file` is set). */
  mxc: string;
  file?: EncryptedFile;
  thumbnail?: AttachmentThumbnail;
}

const FILE_MSGTYPES = new Set(["m.image", "m.file", "m.video", "m.audio"]);

function encryptedFileOf(value: unknown): EncryptedFile | undefined {
  if (!value || typeof value !== "object") return undefined;
  const file = value as EncryptedFile;
  const ok = typeof file.url === "string" && file.url.startsWith("mxc://") && file.key && typeof file.key.k === "string" &&
    typeof file.iv === "string" && file.hashes && typeof file.hashes.sha256 === "string";
  return ok ? file : undefined;
}

const positive = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined);

function thumbnailOf(info: Record<string, unknown>): AttachmentThumbnail | undefined {
  const file = encryptedFileOf(info.thumbnail_file);
  const mxc = file ? file.url : info.thumbnail_url;
  if (typeof mxc !== "string" || !mxc.startsWith("mxc://")) return undefined;
  const thumbInfo = (info.thumbnail_info && typeof info.thumbnail_info === "object" ? info.thumbnail_info : {}) as Record<string, unknown>;
  const mimetype = typeof thumbInfo.mimetype === "string" ? thumbInfo.mimetype : "";
  // A thumbnail is drawn as a picture: a type that is not one (an SVG, say) is not used.
  if (mimetype && !isInlineImage(mimetype)) return undefined;
  return { mxc, file, mimetype, width: positive(thumbInfo.w), height: positive(thumbInfo.h), size: positive(thumbInfo.size) };
}

function kindOf(msgtype: string, mimetype: string, hasMimetype: boolean): Attachment["kind"] {
  if (msgtype === "m.image" && isInlineImage(mimetype)) return "image";
  // Some senders leave out the type of a clip: the msgtype says enough then.
  if (msgtype === "m.video" && (!hasMimetype || /^video\//i.test(mimetype))) return "video";
  if (msgtype === "m.audio" && (!hasMimetype || /^audio\//i.test(mimetype))) return "audio";
  return "file";
}

/** Reads a file message's content; null when it is not one or lacks a usable `url` / `file`. */
export function attachmentOf(content: Record<string, unknown> | undefined): Attachment | null {
  if (!content || typeof content.msgtype !== "string" || !FILE_MSGTYPES.has(content.msgtype)) return null;
  const info = (content.info && typeof content.info === "object" ? content.info : {}) as Record<string, unknown>;
  const file = encryptedFileOf(content.file);
  const mxc = file ? file.url : content.url;
  if (typeof mxc !== "string" || !mxc.startsWith("mxc://")) return null;
  const name =
    (typeof content.filename === "string" && content.filename) ||
    (typeof content.body === "string" && content.body) ||
    "attachment";
  const hasMimetype = typeof info.mimetype === "string" && info.mimetype !== "";
  const mimetype = hasMimetype ? (info.mimetype as string) : "application/octet-stream";
  const kind = kindOf(content.msgtype, mimetype, hasMimetype);
  const visual = kind === "image" || kind === "video";
  return {
    kind,
    name,
    mimetype,
    size: positive(info.size),
    width: positive(info.w),
    height: positive(info.h),
    durationMs: kind === "video" || kind === "audio" ? positive(info.duration) : undefined,
    mxc,
    file,
    thumbnail: visual ? thumbnailOf(info) : undefined,
  };
}

export type PreviewSource = "thumbnail" | "server-thumbnail" | "original";

/**
 * Where an image's timeline preview comes from: the sender's thumbnail when there is one; for an unencrypted
 * image that is big (or of unknown size), the server's thumbnail endpoint; otherwise the image itself (the
 * server cannot thumbnail ciphertext, and a GIF's thumbnail would stop its animation).
 */
export function previewSource(attachment: Pick<Attachment, "mimetype" | "width" | "height" | "size" | "file" | "thumbnail">): PreviewSource {
  if (attachment.thumbnail) return "thumbnail";
  if (attachment.file || /^image\/gif$/i.test(attachment.mimetype)) return "original";
  if (!attachment.width || !attachment.height) return "server-thumbnail";
  const big = wantsImageThumbnail({ width: attachment.width, height: attachment.height, size: attachment.size ?? 0, animated: false });
  return big ? "server-thumbnail" : "original";
}

/** "0:07", "12:34", "1:02:03" for a clip's length in milliseconds. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return "";
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Splits `mxc://server/id`; null for anything else. */
export function parseMxc(uri: string): { serverName: string; mediaId: string } | null {
  const m = /^mxc:\/\/([^/]+)\/([A-Za-z0-9_-]+)$/.exec(uri);
  return m ? { serverName: m[1], mediaId: m[2] } : null;
}

/** Shown size of an image in the timeline: fit in a box, keep the aspect ratio, never upscale. */
export function fitWithin(width: number | undefined, height: number | undefined, maxW: number, maxH: number): { width: number; height: number } {
  if (!width || !height) return { width: maxW, height: Math.round(maxH * 0.75) };
  const scale = Math.min(1, maxW / width, maxH / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}
