import { describe, expect, it } from "vitest";
import {
  AttachmentIntegrityError,
  attachmentContent,
  attachmentOf,
  decryptAttachment,
  encryptAttachment,
  fitWithin,
  formatBytes,
  fromBase64,
  parseMxc,
  toUnpaddedBase64,
  uploadSizeProblem,
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
