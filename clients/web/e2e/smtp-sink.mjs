// A minimal SMTP server on loopback for the e-mail tests: accepts every mail and keeps it (no TLS,
// no login), so a test can read what the homeserver sent and follow its links.
import { createServer } from "node:net";

/** Decodes a quoted-printable body (soft line breaks and =XX escapes). */
export function decodeQuotedPrintable(text) {
  return text.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

export async function startSmtpSink() {
  const mails = [];
  let waiters = [];
  const sockets = new Set();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.setEncoding("latin1");
    let buffer = "";
    let inData = false;
    let lines = [];
    let rcpt = [];
    sock.write("220 localhost ESMTP test sink\r\n");
    sock.on("data", (chunk) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            const raw = lines.join("\n");
            const text = /Content-Transfer-Encoding: quoted-printable/i.test(raw) ? decodeQuotedPrintable(raw) : raw;
            mails.push({ to: rcpt, raw, text });
            lines = [];
            rcpt = [];
            sock.write("250 OK\r\n");
            const ready = waiters.filter((w) => mails.length >= w.count);
            waiters = waiters.filter((w) => mails.length < w.count);
            ready.forEach((w) => w.resolve(mails[w.count - 1]));
          } else {
            lines.push(line.startsWith("..") ? line.slice(1) : line);
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") sock.write("250 localhost\r\n");
        else if (verb === "RCPT") {
          rcpt.push(line.replace(/^RCPT TO:\s*<?([^>]*)>?.*$/i, "$1"));
          sock.write("250 OK\r\n");
        } else if (verb === "DATA") {
          inData = true;
          sock.write("354 End data with <CR><LF>.<CR><LF>\r\n");
        } else if (verb === "QUIT") {
          sock.end("221 Bye\r\n");
        } else sock.write("250 OK\r\n");
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    mails,
    /** The `count`-th mail (1-based), once it has arrived. */
    waitForMail(count, timeout = 30_000) {
      if (mails.length >= count) return Promise.resolve(mails[count - 1]);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no mail number ${count} in ${timeout} ms`)), timeout);
        waiters.push({ count, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      });
    },
    stop() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The validation link in a mail. */
export function linkIn(mail) {
  const match = mail.text.match(/https?:\/\/\S+submit_token\S+/);
  if (!match) throw new Error(`no link in the mail:\n${mail.text}`);
  return match[0];
}
