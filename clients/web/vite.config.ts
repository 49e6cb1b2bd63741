import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, URL } from "node:url";
import { gzipSync } from "node:zlib";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";
import { defineConfig, type Plugin } from "vite";

/**
 * Writes `<asset>.gz` beside each compressible asset, once at build time; the homeserver sends it to
 * browsers that accept gzip (homeserver/rest/web_client.py), so nothing is compressed per request.
 */
function precompress(): Plugin {
  let outDir = "dist";
  return {
    name: "precompress-assets",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const assets = join(outDir, "assets");
      for (const name of readdirSync(assets)) {
        const path = join(assets, name);
        if (!/\.(js|css|wasm|svg|json)$/.test(name) || statSync(path).size < 1024) continue;
        writeFileSync(`${path}.gz`, gzipSync(readFileSync(path), { level: 9 }));
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), tailwindcss(), precompress()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  build: {
    target: "es2022",
    // The crypto WASM (~5 MB) is loaded lazily by matrix-js-sdk after login; it is expected to be big.
    chunkSizeWarningLimit: 1500,
  },
  server: {
    // `npm run dev` talks to a homeserver on :8008 through the dev server, as the built client does.
    proxy: { "/_matrix": "http://127.0.0.1:8008", "/.well-known": "http://127.0.0.1:8008" },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
    setupFiles: ["src/test-setup.ts"],
  },
});
