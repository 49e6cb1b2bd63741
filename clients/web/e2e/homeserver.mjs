// Starts the real homeserver (python -m homeserver) on a free loopback port, serving the built client at /.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const CLIENT_DIR = resolve(here, "..");
export const REPO_ROOT = resolve(CLIENT_DIR, "..", "..");
const PYTHON = process.env.HOMESERVER_PYTHON ?? join(REPO_ROOT, ".venv", "bin", "python");

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

const UNLIMITED = { per_second: 1000, burst_count: 10000 };

export async function startHomeserver({ distDir = join(CLIENT_DIR, "dist"), overrides = {} } = {}) {
  if (!existsSync(join(distDir, "index.html"))) throw new Error(`No built client in ${distDir}: run npm run build`);
  const workdir = mkdtempSync(join(tmpdir(), "web-e2e-"));
  const port = await freePort();
  const config = join(workdir, "homeserver.yaml");
  const gen = spawnSync(
    PYTHON,
    ["-m", "homeserver", "generate-config", "--server-name", "localhost", "--config-path", config,
      "--data-dir", join(workdir, "data"), "--port", String(port)],
    { cwd: REPO_ROOT, encoding: "utf-8" },
  );
  if (gen.status !== 0) throw new Error(`generate-config failed: ${gen.stderr}`);
  const settings = {
    enable_registration: true,
    enable_registration_without_verification: true,
    rc_login: { address: UNLIMITED, account: UNLIMITED, failed_attempts: UNLIMITED },
    rc_registration: UNLIMITED,
    rc_message: UNLIMITED,
    rc_joins: { local: UNLIMITED, remote: UNLIMITED },
    rc_joins_per_room: UNLIMITED,
    rc_invites: { per_room: UNLIMITED, per_user: UNLIMITED, per_issuer: UNLIMITED },
    rc_room_creation: UNLIMITED,
    rc_presence: { per_user: UNLIMITED },
    rc_key_requests: UNLIMITED,
    rc_media_create: UNLIMITED,
    rc_3pid_validation: UNLIMITED,
    password_config: { argon2_opslimit: 1, argon2_memlimit: 8192 },
    web_client: { enabled: true, path: distDir },
    ...overrides,
  };
  const patch = spawnSync(
    PYTHON,
    ["-c", "import json,sys,yaml; p=sys.argv[1]; c=yaml.safe_load(open(p)); c.update(json.loads(sys.argv[2])); yaml.safe_dump(c, open(p,'w'), sort_keys=False)",
      config, JSON.stringify(settings)],
    { encoding: "utf-8" },
  );
  if (patch.status !== 0) throw new Error(`patching the config failed: ${patch.stderr}`);

  const logPath = join(workdir, "homeserver.log");
  const log = createWriteStream(logPath);
  const proc = spawn(PYTHON, ["-m", "homeserver", "run", "-c", config], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  let exited = null;
  proc.on("exit", (code) => (exited = code));

  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`homeserver exited with ${exited}; log: ${logPath}`);
    try {
      const r = await fetch(`${baseUrl}/_matrix/client/versions`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`homeserver did not start in 30 s; log: ${logPath}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    baseUrl,
    logPath,
    workdir,
    async stop({ keep = false } = {}) {
      if (exited === null) {
        proc.kill("SIGTERM");
        await new Promise((r) => {
          const t = setTimeout(() => (proc.kill("SIGKILL"), r()), 10_000);
          proc.on("exit", () => (clearTimeout(t), r()));
        });
      }
      log.end();
      if (!keep) rmSync(workdir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts Debian's coturn (`turnserver`, installed by scripts/setup-env.sh) on a free loopback port with
 * the TURN REST API (`use-auth-secret`): it accepts the credentials the homeserver derives from the same
 * `static-auth-secret`. Relays only on 127.0.0.1 (loopback peers allowed), no TLS, no CLI, not daemonised,
 * logging to a file. Returns { uris, secret, logPath, port, stop() }; `homeserverConfig` is what goes
 * into the homeserver's config so `GET /voip/turnServer` hands these out.
 */
export async function startTurnServer({ binary = process.env.TURNSERVER_PATH ?? "/usr/sbin/turnserver" } = {}) {
  if (!existsSync(binary)) {
    const found = spawnSync("sh", ["-c", "command -v turnserver"], { encoding: "utf-8" }).stdout.trim();
    if (!found) throw new Error("coturn's turnserver is not installed (scripts/setup-env.sh test installs it)");
    binary = found;
  }
  const workdir = mkdtempSync(join(tmpdir(), "web-e2e-turn-"));
  const port = await freePort();
  const secret = randomBytes(24).toString("hex");
  // A relay port range of its own (UDP; the free-port probe is TCP, so pick from a range nothing else uses).
  const minPort = 20000 + randomInt(0, 200) * 100;
  const logPath = join(workdir, "turnserver.log");
  const args = [
    "-n", // no configuration file: everything is on the command line
    `--listening-ip=127.0.0.1`, `--listening-port=${port}`, `--relay-ip=127.0.0.1`,
    `--min-port=${minPort}`, `--max-port=${minPort + 99}`,
    "--use-auth-secret", `--static-auth-secret=${secret}`, "--realm=localhost",
    "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint",
    `--userdb=${join(workdir, "turndb")}`, `--pidfile=${join(workdir, "turnserver.pid")}`,
    `--log-file=${logPath}`, "--simple-log", "--no-stdout-log", "--verbose",
  ];
  let proc;
  let exited = null;
  // Starts turnserver and waits until it logs that its UDP listener is up (coturn has no health endpoint).
  const launch = async () => {
    const readLog = () => (existsSync(logPath) ? readFileSync(logPath, "utf-8") : "");
    const listeners = (log) => (log.match(/IPv4\. UDP listener opened on/gi) ?? []).length;
    const before = readLog();
    proc = spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    proc.stderr.on("data", (d) => (stderr += d));
    exited = null;
    const me = proc;
    proc.on("exit", (code) => me === proc && (exited = code));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (exited !== null) throw new Error(`turnserver exited with ${exited}: ${stderr}; log: ${logPath}`);
      const log = readLog();
      // (A restart appends to the log; should it start the file afresh, any listener line counts.)
      if (listeners(log) > listeners(before) || (log.length < before.length && listeners(log) > 0)) break;
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`turnserver did not start in 15 s; log: ${logPath}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const kill = async () => {
    if (exited !== null) return;
    const p = proc;
    p.kill("SIGTERM");
    await new Promise((r) => {
      const t = setTimeout(() => (p.kill("SIGKILL"), r()), 5_000);
      p.on("exit", () => (clearTimeout(t), r()));
    });
  };
  await launch();
  const uris = [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`];
  return {
    port,
    uris,
    secret,
    logPath,
    workdir,
    /** The UDP ports coturn allocates relay addresses from. */
    relayPorts: [minPort, minPort + 99],
    homeserverConfig: { turn_uris: uris, turn_shared_secret: secret, turn_user_lifetime: "1h" },
    /** How many relay allocations coturn has logged so far (each client's TURN allocation is one). */
    allocations() {
      const log = existsSync(logPath) ? readFileSync(logPath, "utf-8") : "";
      return (log.match(/ALLOCATE processed, success/g) ?? []).length;
    },
    /** Stops and starts it again on the same port with the same secret: every relay allocation is lost. */
    async restart() {
      await kill();
      await launch();
    },
    async stop({ keep = false } = {}) {
      await kill();
      if (!keep) rmSync(workdir, { recursive: true, force: true });
    },
  };
}

// Debian's Chromium, never a downloaded browser build; flags keep it quiet and offline.
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-quic",
];

/**
 * For calls: Chromium's fake camera and microphone (a test pattern and a beep), permission prompts
 * answered yes, and screen capture picking the whole screen by itself.
 */
export const FAKE_MEDIA_ARGS = [
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--auto-select-desktop-capture-source=Entire screen",
  "--autoplay-policy=no-user-gesture-required",
];

export async function launchChromium({ fakeMedia = false } = {}) {
  const { chromium } = await import("playwright-core");
  const args = fakeMedia ? [...CHROMIUM_ARGS, ...FAKE_MEDIA_ARGS] : CHROMIUM_ARGS;
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args });
}

/**
 * Starts `count` of our homeservers that federate with each other over TLS on loopback, each serving the
 * built client at / (tests/clients/start_federating_servers.py: the Python federation tests' harness, with
 * a throw-away CA and servers named 127.0.0.1:PORT). Resolves to { servers: [{ baseUrl, serverName,
 * logPath }], stop() } once all answer.
 */
export async function startFederatingServers({ distDir = join(CLIENT_DIR, "dist"), count = 2, keep = false } = {}) {
  if (!existsSync(join(distDir, "index.html"))) throw new Error(`No built client in ${distDir}: run npm run build`);
  const launcher = join(REPO_ROOT, "tests", "clients", "start_federating_servers.py");
  const proc = spawn(PYTHON, [launcher, "--web-client", distDir, "--count", String(count)], {
    cwd: REPO_ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...(keep ? { HOMESERVER_TEST_KEEP_TMP: "1" } : {}) },
  });
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr += d));
  let exited = null;
  const exit = new Promise((r) => proc.on("exit", (code) => ((exited = code), r())));
  const line = await new Promise((res, rej) => {
    let out = "";
    const timer = setTimeout(() => rej(new Error(`the federating servers did not start in 60 s: ${stderr.slice(-3000)}`)), 60_000);
    proc.stdout.on("data", (d) => {
      out += d;
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        res(out.slice(0, nl));
      }
    });
    exit.then(() => {
      clearTimeout(timer);
      rej(new Error(`the federating servers' launcher exited with ${exited}: ${stderr.slice(-6000)}`));
    });
  }).catch((e) => {
    if (exited === null) proc.kill("SIGKILL");
    throw e;
  });
  const servers = JSON.parse(line).servers.map((s) => ({ baseUrl: s.base_url, serverName: s.server_name, logPath: s.log_path }));
  return {
    servers,
    /** The launcher's stderr so far (a server that died says so there). */
    stderr: () => stderr,
    async stop() {
      if (exited === null) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 30_000);
        await exit;
        clearTimeout(t);
      }
    },
  };
}
