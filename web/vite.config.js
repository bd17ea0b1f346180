import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * <link rel="preload"> for what the page fetches at start (the model manifest, the models, the
 * charset, OpenCV's and ONNX Runtime's .wasm), so the downloads begin while the HTML is parsed
 * instead of one after the other as the scripts ask for them. as="fetch" + crossorigin: the attributes under which
 * the browser hands a preloaded response to a later fetch() of the same URL.
 */
function preloadStartupAssets() {
  return {
    name: "ocrforge-preload-startup-assets",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(html, ctx) {
        const manifest = JSON.parse(readFileSync(join(here, "public", "models", "manifest.json"), "utf-8"));
        // Most urgent first: sessions cannot start before ONNX Runtime's .wasm and the detector are
        // in, so those go ahead of everything (high priority); the rest follow the page's own
        // scripts. OpenCV is needed only when the first image is read. (Over HTTP/1.1 a browser
        // opens 6 connections per host, so later requests wait their turn.)
        const wasm = Object.keys(ctx.bundle || {}).filter((name) => /ort-wasm.*\.wasm$/.test(name));
        const urgent = [...wasm, "models/manifest.json", `models/${manifest.det.file}`];
        const rest = [`models/${manifest.rec.file}`, `models/${manifest.charset}`];
        if (manifest.orient) rest.push(`models/${manifest.orient.file}`);
        if (existsSync(join(here, "public", "vendor", "opencv.wasm"))) rest.push("vendor/opencv.wasm");
        const link = (file, first) => ({
          tag: "link",
          attrs: { rel: "preload", href: `./${file}`, as: "fetch", crossorigin: "", ...(first ? { fetchpriority: "high" } : {}) },
          injectTo: first ? "head-prepend" : "head",
        });
        return [...urgent.map((f) => link(f, true)), ...rest.map((f) => link(f, false))];
      },
    },
  };
}

// Relative base: the built folder works from any path on any static server.
export default defineConfig({
  base: "./",
  plugins: [preloadStartupAssets()],
  build: {
    outDir: "dist",
    target: "es2022",
    // onnxruntime-web's bundle is ~0.5 MB minified on its own; that is expected, not a warning.
    chunkSizeWarningLimit: 2048,
    rollupOptions: {
      output: {
        // onnxruntime-web starts its threads as module workers on its own script
        // (import.meta.url); in a chunk of its own that script is just ORT, not the page code.
        manualChunks(id) {
          if (id.includes("node_modules/onnxruntime-web")) return "ort";
        },
      },
    },
  },
  optimizeDeps: { exclude: ["onnxruntime-web"] },
  server: { host: "127.0.0.1" },
  preview: { host: "127.0.0.1" },
});
