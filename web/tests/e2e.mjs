// End-to-end check of the built page in headless Chromium: serve dist/ on 127.0.0.1, open the page
// on a fresh profile, hand it an image through the file input as soon as its script runs (as a user
// would who drops a file at once), wait for the text, then time a few more reads of the same image.
// Prints one JSON object on stdout: the lines, the page's start-up marks, navigation start -> models
// loaded (pageLoadMs) and -> first text on screen (firstTextMs), per-read timings. The pytest test
// compares its lines with the Python pipeline's and benchmarks/bench_web.py reports the timings.
//
//   node tests/e2e.mjs --image ../examples/receipt_sample.png [--runs 5] [--isolated] [--also other.png ...]
//
// Uses the system Chromium (Debian package `chromium`) through playwright-core; no browser is
// downloaded. --isolated serves the page cross-origin isolated so onnxruntime-web may use threads.
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    image: { type: "string" },
    dist: { type: "string", default: join(here, "..", "dist") },
    chromium: { type: "string", default: process.env.CHROMIUM || "/usr/bin/chromium" },
    runs: { type: "string", default: "3" },
    threads: { type: "string", default: "0" },
    isolated: { type: "boolean", default: false },
    // After the timed reads, open the page again in the same browser profile, the files served
    // cacheable (a returning visitor of a deployed site), and time open -> first text again.
    revisit: { type: "boolean", default: false },
    timeout: { type: "string", default: "120" },
    // A file that is not an image: the page must say so instead of failing silently.
    "bad-file": { type: "string" },
    // More images read in the same page after the timed reads (their lines are reported under `also`).
    also: { type: "string", multiple: true, default: [] },
  },
});

function fail(message) {
  console.error(`e2e: ${message}`);
  process.exit(2);
}

if (!opts.image) fail("--image is required");
const imagePath = resolve(opts.image);
try {
  statSync(imagePath);
} catch {
  fail(`image not found: ${imagePath}`);
}
const distDir = resolve(opts.dist);
try {
  statSync(join(distDir, "index.html"));
} catch {
  fail(`no built page at ${distDir} (run npm run build first)`);
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".css": "text/css",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".txt": "text/plain; charset=utf-8",
};

function serve(root, isolated) {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^([/\\])+/, "");
    const file = join(root, path === "" ? "index.html" : path);
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    let body;
    try {
      body = readFileSync(statSync(file).isDirectory() ? join(file, "index.html") : file);
    } catch {
      res.writeHead(404).end();
      return;
    }
    const cache = opts.revisit ? "public, max-age=3600" : "no-store";
    const headers = { "Content-Type": TYPES[extname(file)] || "application/octet-stream", "Cache-Control": cache };
    if (isolated) {
      headers["Cross-Origin-Opener-Policy"] = "same-origin";
      headers["Cross-Origin-Embedder-Policy"] = "require-corp";
    }
    res.writeHead(200, headers).end(body);
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

const server = await serve(distDir, opts.isolated);
const url = `http://127.0.0.1:${server.address().port}/${opts.threads !== "0" ? `?threads=${opts.threads}` : ""}`;
const profile = mkdtempSync(join(tmpdir(), "ocrforge-chromium-"));
const timeoutMs = Number(opts.timeout) * 1000;
let context;
const consoleErrors = [];
try {
  // A persistent context on a fresh, throw-away profile: nothing from another run leaks in.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: opts.chromium,
    headless: true,
    timeout: timeoutMs,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeoutMs);
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => consoleErrors.push(String(err)));

  // Cold start as a user meets it: the image is handed to the page as soon as its script runs
  // (the page reads it once the models are in), and the page's own clock (ms since navigation
  // start) says when the first text was on screen. A page that only takes images once it is ready
  // (older builds) is handed the image then.
  async function openAndRead() {
    await page.goto(url, { waitUntil: "commit" });
    await page.waitForFunction(() => window.ocrforge?.readBlob || document.body?.dataset.state === "error", null, { polling: 5 });
    const early = await page.evaluate(() => ({ state: document.body.dataset.state, now: performance.now() }));
    if (early.state === "error") throw new Error(`page did not start: ${await page.textContent("#status")}`);
    await page.setInputFiles("#file", imagePath);
    await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { polling: 5 });
    const read = await page.evaluate(() => ({
      state: document.body.dataset.state,
      status: document.getElementById("status").textContent,
      result: window.ocrforge.lastResult,
      shown: [...document.querySelectorAll("#lines li")].map((li) => li.textContent),
      startup: window.ocrforge.startup?.() ?? {},
      firstTextMs: window.ocrforge.firstTextMs ?? performance.now(),
    }));
    if (read.state !== "done") throw new Error(`read failed: ${read.status}`);
    return { ...read, loadMs: read.startup.ready ?? early.now };
  }
  const first = await openAndRead();
  const loadMs = first.loadMs;

  // Warm reads: decode + detect + recognize, timed inside the page.
  const bytes = readFileSync(imagePath).toString("base64");
  const mime = extname(imagePath).toLowerCase() === ".png" ? "image/png" : "image/jpeg";
  const warm = await page.evaluate(
    async ({ bytes, mime, runs }) => {
      const raw = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
      const blob = new Blob([raw], { type: mime });
      const out = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const r = await window.ocrforge.readBlob(blob);
        out.push({ wallMs: performance.now() - t0, ...r.timings, text: r.lines.map((l) => l.text).join("\n") });
      }
      return out;
    },
    { bytes, mime, runs: Number(opts.runs) },
  );
  const also = [];
  for (const extra of opts.also) {
    const path = resolve(extra);
    const r = await page.evaluate(
      async ({ bytes, mime }) => {
        const raw = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
        const res = await window.ocrforge.readBlob(new Blob([raw], { type: mime }));
        return { lines: res.lines, rotation: res.rotation, inverted: res.inverted, upscale: res.upscale, orientation: res.orientation, timings: res.timings };
      },
      { bytes: readFileSync(path).toString("base64"), mime: extname(path).toLowerCase() === ".png" ? "image/png" : "image/jpeg" },
    );
    also.push({ image: path, ...r });
  }
  let badFile = null;
  if (opts["bad-file"]) {
    await page.setInputFiles("#file", resolve(opts["bad-file"]));
    await page.waitForFunction(() => document.body.dataset.state === "error");
    badFile = await page.evaluate(() => document.getElementById("status").textContent);
  }
  const threads = await page.evaluate(() => ({ isolated: globalThis.crossOriginIsolated, cores: navigator.hardwareConcurrency }));
  let revisit = null;
  if (opts.revisit) {
    const again = await openAndRead();
    const text = (r) => r.result.lines.map((l) => l.text).join("\n");
    revisit = { pageLoadMs: again.loadMs, firstTextMs: again.firstTextMs, startup: again.startup,
                firstRead: again.result.timings, sameText: text(again) === text(first) };
  }
  const report = {
    url,
    chromium: context.browser()?.version() ?? null,
    pageLoadMs: loadMs, // navigation start -> models loaded (page clock)
    firstTextMs: first.firstTextMs, // navigation start -> first text on screen (page clock)
    startup: first.startup, // performance marks of the start-up steps
    resources: await page.evaluate(() =>
      performance.getEntriesByType("resource").map((e) => ({
        name: new URL(e.name).pathname.split("/").pop(),
        startMs: e.startTime,
        endMs: e.responseEnd,
        bytes: e.encodedBodySize,
      })),
    ),
    crossOriginIsolated: threads.isolated,
    hardwareConcurrency: threads.cores,
    lines: first.result.lines.map((l) => ({ text: l.text, confidence: l.confidence, rawConfidence: l.rawConfidence, charScores: l.charScores,
      polygon: l.polygon })),
    rotation: first.result.rotation,
    inverted: first.result.inverted,
    upscale: first.result.upscale,
    orientation: first.result.orientation,
    boxes: first.result.boxes,
    shown: first.shown,
    firstRead: first.result.timings,
    warmReads: warm.map(({ text, ...t }) => t),
    stableText: warm.every((w) => w.text === first.result.lines.map((l) => l.text).join("\n")),
    also,
    badFileStatus: badFile,
    revisit, // null unless --revisit
    consoleErrors,
  };
  process.stdout.write(JSON.stringify(report) + "\n");
} catch (err) {
  console.error(`e2e: ${err.message}`);
  if (consoleErrors.length) console.error(`e2e: page errors: ${consoleErrors.join(" | ")}`);
  process.exitCode = 1;
} finally {
  await context?.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
