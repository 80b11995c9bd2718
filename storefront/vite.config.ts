/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// `npm run dev` serves the shop with hot reload on :5173 and sends the API to the gateway that
// `make dev` started (GATEWAY_URL overrides it), so the browser sees one origin as in production.
const gateway = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.GATEWAY_URL ?? "http://127.0.0.1:9000";

export default defineConfig({
  build: {
    outDir: "dist",
    // Files under assets/ carry a content hash: the gateway serves them as immutable.
    assetsDir: "assets",
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    port: 5173,
    strictPort: true,
    proxy: { "/api": gateway, "/config.json": gateway },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
