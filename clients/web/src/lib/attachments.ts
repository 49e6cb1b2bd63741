/**
 * Files and images in messages, without the SDK: encrypting attachments as the spec's "Sending encrypted
 * attachments" says (AES-256-CTR, a random 64-bit IV followed by a zero 64-bit counter, the key as a JWK,
 * the SHA-256 of the ciphertext), checking sizes, building and reading the message content.
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

export interface AttachmentSource {
  name: string;
  mimetype: string;
  size: number;
  /** Pixel size, for images. */
  width?: number;
  height?: number;
}

/** The `m.room.message` content for an uploaded file: `file` (encrypted) replaces `url`. */
export function attachmentContent(
  source: AttachmentSource,
  upload: { url: string; encrypted?: EncryptedFileInfo },
): Record<string, unknown> {
  const image = isInlineImage(source.mimetype);
  const info: Record<string, unknown> = { mimetype: source.mimetype || "application/octet-stream", size: source.size };
  if (image && source.width && source.height) {
    info.w = source.width;
    info.h = source.height;
  }
  const where = upload.encrypted ? { file: { ...upload.encrypted, url: upload.url } } : { url: upload.url };
  return {
    msgtype: image ? "m.image" : "m.file",
    body: source.name,
    filename: source.name,
    info,
    ...where,
  };
}

/** What the timeline needs to draw an attachment (plain data, read from an event's content). */
export interface Attachment {
  kind: "image" | "file";
  name: string;
  mimetype: string;
  size?: number;
  width?: number;
  height?: number;
  /** The mxc:// URI (of the ciphertext when `file` is set). */
  mxc: string;
  file?: EncryptedFile;
}

const FILE_MSGTYPES = new Set(["m.image", "m.file", "m.video", "m.audio"]);

/** Reads a file message's content; null when it is not one or lacks a usable `url` / `file`. */
export function attachmentOf(content: Record<string, unknown> | undefined): Attachment | null {
  if (!content || typeof content.msgtype !== "string" || !FILE_MSGTYPES.has(content.msgtype)) return null;
  const info = (content.info && typeof content.info === "object" ? content.info : {}) as Record<string, unknown>;
  const file = content.file as EncryptedFile | undefined;
  const encrypted = file && typeof file === "object" && typeof file.url === "string" && file.key && file.iv && file.hashes;
  const mxc = encrypted ? file!.url : content.url;
  if (typeof mxc !== "string" || !mxc.startsWith("mxc://")) return null;
  const name =
    (typeof content.filename === "string" && content.filename) ||
    (typeof content.body === "string" && content.body) ||
    "attachment";
  const mimetype = typeof info.mimetype === "string" ? info.mimetype : "application/octet-stream";
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined);
  return {
    kind: content.msgtype === "m.image" && isInlineImage(mimetype) ? "image" : "file",
    name,
    mimetype,
    size: num(info.size),
    width: num(info.w),
    height: num(info.h),
    mxc,
    file: encrypted ? file : undefined,
  };
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
