import { defineConfig } from "vite";

// Relative base: the built folder works from any path on any static server.
export default defineConfig({
  base: "./",
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
