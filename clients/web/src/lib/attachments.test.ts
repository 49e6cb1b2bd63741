import { describe, expect, it } from "vitest";
import {
  AttachmentIntegrityError,
  attachmentContent,
  attachmentOf,
  decryptAttachment,
  encryptAttachment,
  fitWithin,
  formatBytes,
  formatDuration,
  fromBase64,
  hasTransparentPixel,
  isThumbnailWorthIt,
  mayBeAnimated,
  msgtypeFor,
  parseMxc,
  posterTime,
  previewSource,
  thumbnailDimensions,
  thumbnailMimetype,
  toUnpaddedBase64,
  uploadSizeProblem,
  wantsImageThumbnail,
} from "./attachments";

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

describe("attachment encryption (Web Crypto)", () => {
  it("round-trips and changes the bytes", async () => {
    const plain = bytes(100_003);
    const { data, info } = await encryptAttachment(plain);
    expect(data.byteLength).toBe(plain.length); // CTR: no padding
    expect(new Uint8Array(data)).not.toEqual(plain);
    const back = new Uint8Array(await decryptAttachment(data, info));
    expect(back).toEqual(plain);
  });

  it("follows the spec's format: v2, A256CTR JWK, 16-byte IV with a zero counter, unpadded base64", async () => {
    const { data, info } = await encryptAttachment(bytes(10));
    expect(info.v).toBe("v2");
    expect(info.key).toMatchObject({ alg: "A256CTR", ext: true, kty: "oct", key_ops: ["encrypt", "decrypt"] });
    expect(fromBase64(info.key.k)).toHaveLength(32);
    expect(info.key.k).not.toMatch(/[+/=]/); // JWK: base64url
    const iv = fromBase64(info.iv);
    expect(iv).toHaveLength(16);
    expect([...iv.subarray(8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(info.iv).not.toMatch(/=/);
    expect(info.hashes.sha256).not.toMatch(/=/);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    expect(info.hashes.sha256).toBe(toUnpaddedBase64(digest));
  });

  it("uses a new key and IV every time", async () => {
    const a = await encryptAttachment(bytes(64));
    const b = await encryptAttachment(bytes(64));
    expect(a.info.key.k).not.toBe(b.info.key.k);
    expect(a.info.iv).not.toBe(b.info.iv);
  });

  it("refuses a changed ciphertext (hash check) and a wrong version", async () => {
    const { data, info } = await encryptAttachment(bytes(256));
    const tampered = new Uint8Array(data.slice(0));
    tampered[5] ^= 1;
    await expect(decryptAttachment(tampered, info)).rejects.toBeInstanceOf(AttachmentIntegrityError);
    await expect(decryptAttachment(data, { ...info, v: "v1" })).rejects.toBeInstanceOf(AttachmentIntegrityError);
  });

  it("decrypts a file made with a padded hash and standard-base64 key from another client", async () => {
    const { data, info } = await encryptAttachment(bytes(33));
    const key = info.key.k.replace(/-/g, "+").replace(/_/g, "/");
    const back = await decryptAttachment(data, { ...info, key: { ...info.key, k: info.key.k }, hashes: { sha256: info.hashes.sha256 + "=" } });
    expect(new Uint8Array(back)).toEqual(bytes(33));
    expect(fromBase64(key)).toEqual(fromBase64(info.key.k));
  });
});

describe("sizes", () => {
  it("formats bytes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1 KB");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(50 * 1024 * 1024)).toBe("50 MB");
    expect(formatBytes(123.4 * 1024 * 1024)).toBe("123 MB");
    expect(formatBytes(-1)).toBe("");
  });

  it("says when a file is too big, before uploading", () => {
    expect(uploadSizeProblem("a.png", 10, 100)).toBeNull();
    expect(uploadSizeProblem("a.png", 100, 100)).toBeNull();
    expect(uploadSizeProblem("a.png", 10, undefined)).toBeNull();
    expect(uploadSizeProblem("big.iso", 3 * 1024 * 1024, 1024 * 1024)).toBe(
      '"big.iso" is 3 MB; this server accepts files up to 1 MB. Send a smaller file.',
    );
    expect(uploadSizeProblem("empty.txt", 0, 100)).toMatch(/empty/);
  });

  it("fits images in a box without upscaling", () => {
    expect(fitWithin(4000, 2000, 400, 300)).toEqual({ width: 400, height: 200 });
    expect(fitWithin(100, 50, 400, 300)).toEqual({ width: 100, height: 50 });
    expect(fitWithin(undefined, undefined, 400, 300)).toEqual({ width: 400, height: 225 });
  });
});

describe("message content", () => {
  it("builds m.image with w/h and `file` instead of `url` when encrypted", async () => {
    const { info } = await encryptAttachment(bytes(5));
    const content = attachmentContent(
      { name: "cat.png", mimetype: "image/png", size: 5, width: 640, height: 480 },
      { url: "mxc://localhost/abc", encrypted: info },
    );
    expect(content).toMatchObject({ msgtype: "m.image", body: "cat.png", info: { mimetype: "image/png", size: 5, w: 640, h: 480 } });
    expect(content.url).toBeUndefined();
    expect(content.file).toMatchObject({ url: "mxc://localhost/abc", v: "v2", iv: info.iv });
    const parsed = attachmentOf(content);
    expect(parsed).toMatchObject({ kind: "image", name: "cat.png", mxc: "mxc://localhost/abc", width: 640, height: 480, size: 5 });
    expect(parsed?.file?.key.k).toBe(info.key.k);
  });

  it("builds m.file with `url` when not encrypted", () => {
    const content = attachmentContent({ name: "notes.pdf", mimetype: "application/pdf", size: 2048 }, { url: "mxc://localhost/x" });
    expect(content).toMatchObject({ msgtype: "m.file", body: "notes.pdf", url: "mxc://localhost/x", info: { size: 2048 } });
    expect(content.file).toBeUndefined();
    expect(attachmentOf(content)).toMatchObject({ kind: "file", name: "notes.pdf", mimetype: "application/pdf" });
  });

  it("ignores text messages and broken file messages", () => {
    expect(attachmentOf({ msgtype: "m.text", body: "hi" })).toBeNull();
    expect(attachmentOf({ msgtype: "m.file", body: "x" })).toBeNull();
    expect(attachmentOf({ msgtype: "m.image", body: "x", url: "https://evil/x" })).toBeNull();
    expect(attachmentOf(undefined)).toBeNull();
    // An image with an SVG type is offered as a file (not drawn inline).
    expect(attachmentOf({ msgtype: "m.image", body: "x.svg", url: "mxc://a/b", info: { mimetype: "image/svg+xml" } })?.kind).toBe("file");
  });

  it("parses mxc URIs", () => {
    expect(parseMxc("mxc://localhost/AbC_-1")).toEqual({ serverName: "localhost", mediaId: "AbC_-1" });
    expect(parseMxc("mxc://localhost/../x")).toBeNull();
    expect(parseMxc("http://x/y")).toBeNull();
  });
});

describe("thumbnails", () => {
  it("fits 800x600 without upscaling, keeping the aspect ratio", () => {
    expect(thumbnailDimensions(1600, 1000)).toEqual({ width: 800, height: 500 });
    expect(thumbnailDimensions(3000, 4000)).toEqual({ width: 450, height: 600 });
    expect(thumbnailDimensions(4000, 3000)).toEqual({ width: 800, height: 600 });
    expect(thumbnailDimensions(640, 480)).toEqual({ width: 640, height: 480 });
    expect(thumbnailDimensions(10000, 3)).toEqual({ width: 800, height: 1 }); // never 0
    expect(thumbnailDimensions(200, 100, { width: 50, height: 50 })).toEqual({ width: 50, height: 25 });
  });

  it("makes one for big or heavy still images only", () => {
    expect(wantsImageThumbnail({ width: 1600, height: 1000, size: 50_000, animated: false })).toBe(true);
    expect(wantsImageThumbnail({ width: 700, height: 900, size: 50_000, animated: false })).toBe(true);
    expect(wantsImageThumbnail({ width: 640, height: 480, size: 900_000, animated: false })).toBe(true);
    expect(wantsImageThumbnail({ width: 640, height: 480, size: 90_000, animated: false })).toBe(false);
    expect(wantsImageThumbnail({ width: 800, height: 600, size: 100, animated: false })).toBe(false);
    expect(wantsImageThumbnail({ width: 4000, height: 3000, size: 5_000_000, animated: true })).toBe(false);
  });

  it("keeps it only when it is at most half the original", () => {
    expect(isThumbnailWorthIt(1000, 500)).toBe(true);
    expect(isThumbnailWorthIt(1000, 501)).toBe(false);
    expect(isThumbnailWorthIt(1000, 0)).toBe(false);
  });

  it("is a JPEG unless there is transparency", () => {
    expect(thumbnailMimetype(false)).toBe("image/jpeg");
    expect(thumbnailMimetype(true)).toBe("image/png");
    expect(hasTransparentPixel([1, 2, 3, 255, 4, 5, 6, 255])).toBe(false);
    expect(hasTransparentPixel([1, 2, 3, 255, 4, 5, 6, 254])).toBe(true);
    expect(hasTransparentPixel([])).toBe(false);
  });

  it("tells animated images from their first bytes", () => {
    const chunk = (type: string, length = 0) => [0, 0, 0, length, ...[...type].map((c) => c.charCodeAt(0)), ...new Array(length + 4).fill(0)];
    const pngSignature = [137, 80, 78, 71, 13, 10, 26, 10];
    const apng = Uint8Array.from([...pngSignature, ...chunk("IHDR", 13), ...chunk("acTL", 8), ...chunk("IDAT", 2)]);
    const png = Uint8Array.from([...pngSignature, ...chunk("IHDR", 13), ...chunk("IDAT", 2), ...chunk("acTL", 8)]);
    expect(mayBeAnimated("image/png", apng)).toBe(true);
    expect(mayBeAnimated("image/png", png)).toBe(false); // acTL after IDAT does not count
    expect(mayBeAnimated("image/gif", new Uint8Array())).toBe(true);
    const webp = (flags: number) => {
      const head = new Uint8Array(30);
      head.set([..."RIFF"].map((c) => c.charCodeAt(0)), 0);
      head.set([..."WEBPVP8X"].map((c) => c.charCodeAt(0)), 8);
      head[20] = flags;
      return head;
    };
    expect(mayBeAnimated("image/webp", webp(0x02))).toBe(true);
    expect(mayBeAnimated("image/webp", webp(0x10))).toBe(false); // alpha only
    expect(mayBeAnimated("image/jpeg", apng)).toBe(false);
  });

  it("takes a video's poster a quarter in, at most one second", () => {
    expect(posterTime(2)).toBe(0.5);
    expect(posterTime(60)).toBe(1);
    expect(posterTime(undefined)).toBe(0);
    expect(posterTime(Infinity)).toBe(0);
  });

  it("previews from the sender's thumbnail, else the server's for big unencrypted images, else the image", async () => {
    const thumbnail = { mxc: "mxc://a/t", mimetype: "image/jpeg" };
    const { info } = await encryptAttachment(bytes(4));
    const file = { ...info, url: "mxc://a/f" };
    expect(previewSource({ mimetype: "image/png", width: 4000, height: 3000, file, thumbnail })).toBe("thumbnail");
    expect(previewSource({ mimetype: "image/png", width: 4000, height: 3000, file })).toBe("original"); // ciphertext
    expect(previewSource({ mimetype: "image/png", width: 4000, height: 3000 })).toBe("server-thumbnail");
    expect(previewSource({ mimetype: "image/png" })).toBe("server-thumbnail");
    expect(previewSource({ mimetype: "image/png", width: 400, height: 300, size: 20_000 })).toBe("original");
    expect(previewSource({ mimetype: "image/gif", width: 4000, height: 3000 })).toBe("original");
  });
});

describe("content for each msgtype", () => {
  const thumbInfo = { w: 800, h: 500, mimetype: "image/jpeg", size: 30_000 };

  it("picks the msgtype from the file's type", () => {
    expect(msgtypeFor("image/png")).toBe("m.image");
    expect(msgtypeFor("image/svg+xml")).toBe("m.file");
    expect(msgtypeFor("video/webm")).toBe("m.video");
    expect(msgtypeFor("video/x-matroska")).toBe("m.video");
    expect(msgtypeFor("audio/wav")).toBe("m.audio");
    expect(msgtypeFor("application/pdf")).toBe("m.file");
    expect(msgtypeFor("")).toBe("m.file");
  });

  it("m.image in an encrypted room: w/h, thumbnail_file and thumbnail_info, no URLs in the clear", async () => {
    const main = await encryptAttachment(bytes(8));
    const thumb = await encryptAttachment(bytes(4));
    const content = attachmentContent(
      { name: "big.png", mimetype: "image/png", size: 900_000, width: 1600, height: 1000 },
      { url: "mxc://localhost/main", encrypted: main.info, thumbnail: { url: "mxc://localhost/thumb", encrypted: thumb.info, info: thumbInfo } },
    );
    expect(content).toMatchObject({ msgtype: "m.image", info: { w: 1600, h: 1000, size: 900_000, thumbnail_info: thumbInfo } });
    const info = content.info as Record<string, unknown>;
    expect(info.thumbnail_file).toMatchObject({ url: "mxc://localhost/thumb", v: "v2", iv: thumb.info.iv, key: { k: thumb.info.key.k } });
    expect(info.thumbnail_url).toBeUndefined();
    expect(content.url).toBeUndefined();
    const parsed = attachmentOf(content)!;
    expect(parsed.kind).toBe("image");
    expect(parsed.thumbnail).toMatchObject({ mxc: "mxc://localhost/thumb", mimetype: "image/jpeg", width: 800, height: 500, size: 30_000 });
    expect(parsed.thumbnail?.file?.key.k).toBe(thumb.info.key.k);
  });

  it("m.image unencrypted: thumbnail_url", () => {
    const content = attachmentContent(
      { name: "big.jpg", mimetype: "image/jpeg", size: 900_000, width: 1600, height: 1000 },
      { url: "mxc://localhost/main", thumbnail: { url: "mxc://localhost/thumb", info: thumbInfo } },
    );
    expect(content).toMatchObject({ url: "mxc://localhost/main", info: { thumbnail_url: "mxc://localhost/thumb", thumbnail_info: thumbInfo } });
    expect((content.info as Record<string, unknown>).thumbnail_file).toBeUndefined();
    expect(attachmentOf(content)?.thumbnail).toEqual({ mxc: "mxc://localhost/thumb", file: undefined, mimetype: "image/jpeg", width: 800, height: 500, size: 30_000 });
  });

  it("refuses a thumbnail encrypted differently from its file", async () => {
    const thumb = await encryptAttachment(bytes(4));
    expect(() =>
      attachmentContent(
        { name: "a.png", mimetype: "image/png", size: 9 },
        { url: "mxc://localhost/main", thumbnail: { url: "mxc://localhost/t", encrypted: thumb.info, info: thumbInfo } },
      ),
    ).toThrow(/encrypted exactly when/);
  });

  it("m.video: w, h, duration (integer ms) and the poster as its thumbnail", async () => {
    const main = await encryptAttachment(bytes(8));
    const thumb = await encryptAttachment(bytes(4));
    const content = attachmentContent(
      { name: "clip.webm", mimetype: "video/webm", size: 40_000, width: 320, height: 240, durationMs: 1234.6 },
      { url: "mxc://localhost/v", encrypted: main.info, thumbnail: { url: "mxc://localhost/p", encrypted: thumb.info, info: { ...thumbInfo, w: 320, h: 240 } } },
    );
    expect(content).toMatchObject({ msgtype: "m.video", body: "clip.webm", info: { w: 320, h: 240, duration: 1235, mimetype: "video/webm" } });
    expect((content.info as Record<string, unknown>).thumbnail_file).toMatchObject({ url: "mxc://localhost/p" });
    expect(attachmentOf(content)).toMatchObject({ kind: "video", durationMs: 1235, width: 320, height: 240, thumbnail: { mxc: "mxc://localhost/p" } });
  });

  it("m.audio: duration, no size in pixels or thumbnail", () => {
    const content = attachmentContent(
      { name: "tone.wav", mimetype: "audio/wav", size: 16_044, width: 5, height: 5, durationMs: 1000 },
      { url: "mxc://localhost/a", thumbnail: { url: "mxc://localhost/t", info: thumbInfo } },
    );
    expect(content).toEqual({
      msgtype: "m.audio",
      body: "tone.wav",
      filename: "tone.wav",
      url: "mxc://localhost/a",
      info: { mimetype: "audio/wav", size: 16_044, duration: 1000 },
    });
    expect(attachmentOf(content)).toMatchObject({ kind: "audio", durationMs: 1000 });
  });

  it("m.file: no w/h, duration or thumbnail even when given", () => {
    const content = attachmentContent({ name: "a.bin", mimetype: "application/octet-stream", size: 3, width: 2, height: 2, durationMs: 5 }, { url: "mxc://localhost/f" });
    expect(content.info).toEqual({ mimetype: "application/octet-stream", size: 3 });
  });

  it("reads what other clients send: clips without a type, unusable thumbnails ignored", () => {
    expect(attachmentOf({ msgtype: "m.video", body: "v", url: "mxc://a/v" })?.kind).toBe("video");
    expect(attachmentOf({ msgtype: "m.audio", body: "a", url: "mxc://a/a", info: { mimetype: "audio/ogg", duration: 3000 } })).toMatchObject({ kind: "audio", durationMs: 3000 });
    expect(attachmentOf({ msgtype: "m.video", body: "v", url: "mxc://a/v", info: { mimetype: "application/pdf" } })?.kind).toBe("file");
    const thumbOf = (info: Record<string, unknown>) => attachmentOf({ msgtype: "m.image", body: "i", url: "mxc://a/i", info: { mimetype: "image/png", ...info } })?.thumbnail;
    expect(thumbOf({ thumbnail_url: "https://evil/t.png" })).toBeUndefined();
    expect(thumbOf({ thumbnail_url: "mxc://a/t", thumbnail_info: { mimetype: "image/svg+xml" } })).toBeUndefined();
    expect(thumbOf({ thumbnail_file: { url: "mxc://a/t" } })).toBeUndefined(); // no key, iv, hashes
    expect(thumbOf({ thumbnail_url: "mxc://a/t" })).toEqual({ mxc: "mxc://a/t", file: undefined, mimetype: "", width: undefined, height: undefined, size: undefined });
    expect(attachmentOf({ msgtype: "m.file", body: "f", url: "mxc://a/f", info: { thumbnail_url: "mxc://a/t" } })?.thumbnail).toBeUndefined();
  });

  it("formats clip lengths", () => {
    expect(formatDuration(0)).toBe("0:00");
    expect(formatDuration(7_400)).toBe("0:07");
    expect(formatDuration(754_000)).toBe("12:34");
    expect(formatDuration(3_723_000)).toBe("1:02:03");
    expect(formatDuration(undefined)).toBe("");
    expect(formatDuration(NaN)).toBe("");
  });
});
