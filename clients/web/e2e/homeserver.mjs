// Starts the real homeserver (python -m homeserver) on a free loopback port, serving the built client at /.
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, rmSync } from "node:fs";
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

// Debian's Chromium, never a downloaded browser build; flags keep it quiet and offline.
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-quic",
];

export async function launchChromium() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
}
