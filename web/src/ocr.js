// The reading pipeline in the browser: detector -> line boxes -> rectified crops -> recognizer ->
// greedy CTC. Every step mirrors the Python pipeline (ocrforge.detection / ocrforge.recognition)
// and uses the same OpenCV routines (via OpenCV.js) so the two give the same text on the same
// image; the I/O contracts of the ONNX models are in docs (COMMON contracts) and the model files'
// metadata_props, which scripts/copy-assets.mjs puts in models/manifest.json.
import * as ort from "onnxruntime-web/wasm";
import { detectionBoxes } from "./detpost.js";
import { cropLine, prepareLineBatch, resizeLine } from "./lines.js";
import { greedyDecode, parseCharset } from "./ctc.js";

/** Settings of the reading path; defaults match the Python TextDetector/TextRecognizer. */
export const DEFAULTS = Object.freeze({
  maxSide: 1600, // the detector sees the page at most this large (longest side, pixels)
  minSide: 32,
  recBatch: 8, // lines per recognizer run, sorted by width so padding stays small
  threads: 0, // 0: as many as the page may use (1 unless cross-origin isolated)
});

/**
 * Waits for OpenCV.js (a classic script on the page) to be ready; resolves to `{ cv }`.
 *
 * The result is wrapped on purpose: OpenCV.js's Emscripten module is a thenable whose `then`
 * calls back with the module itself, so resolving a promise with it directly never settles and
 * spins the main thread.
 */
export async function loadOpenCv(win = globalThis) {
  for (let i = 0; i < 1200 && !win.cv; i++) await new Promise((r) => setTimeout(r, 50));
  let cv = win.cv;
  if (!cv) throw new Error("OpenCV.js did not load");
  if (cv instanceof Promise) cv = (await cv.then((m) => ({ m }))).m;
  if (!cv.Mat) {
    await new Promise((resolve) => {
      const prev = cv.onRuntimeInitialized;
      cv.onRuntimeInitialized = () => {
        if (prev) prev();
        resolve();
      };
    });
  }
  return { cv };
}

function wasmThreads(requested) {
  if (requested > 0) return requested;
  // Threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages.
  if (!globalThis.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

export class BrowserOCR {
  /**
   * @param {object} cv OpenCV.js module (ready)
   * @param {object} parts {det, rec: ort.InferenceSession, charset: string[], manifest, settings}
   */
  constructor(cv, { det, rec, charset, manifest, settings }) {
    this.cv = cv;
    this.det = det;
    this.rec = rec;
    this.charset = charset;
    this.manifest = manifest;
    this.settings = settings;
    const meta = manifest.det.metadata || {};
    this.detParams = {
      thresh: parseFloat(meta.thresh ?? "0.3"),
      boxThresh: parseFloat(meta.box_thresh ?? "0.6"),
      unclipRatio: parseFloat(meta.unclip_ratio ?? "1.5"),
    };
    this.recHeight = parseInt((manifest.rec.metadata || {}).input_height ?? "32", 10);
  }

  /** Fetches the manifest, both models and the charset from `baseUrl` (the built site's models/). */
  static async create(cv, baseUrl, options = {}) {
    const settings = { ...DEFAULTS, ...options };
    ort.env.wasm.numThreads = wasmThreads(settings.threads);
    const modelsUrl = new URL("models/", baseUrl);
    const manifest = await (await fetchOk(new URL("manifest.json", modelsUrl))).json();
    const sessionOptions = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    const [detBytes, recBytes, charsetText] = await Promise.all([
      fetchOk(new URL(manifest.det.file, modelsUrl)).then((r) => r.arrayBuffer()),
      fetchOk(new URL(manifest.rec.file, modelsUrl)).then((r) => r.arrayBuffer()),
      fetchOk(new URL(manifest.charset, modelsUrl)).then((r) => r.text()),
    ]);
    const det = await ort.InferenceSession.create(new Uint8Array(detBytes), sessionOptions);
    const rec = await ort.InferenceSession.create(new Uint8Array(recBytes), sessionOptions);
    return new BrowserOCR(cv, { det, rec, charset: parseCharset(charsetText), manifest, settings });
  }

  /**
   * Reads one image.
   * @param {ImageData} imageData RGBA pixels (as decoded by the browser, no colour management)
   * @returns {Promise<{lines: Array<{text: string, confidence: number, polygon: number[][]}>, timings: object}>}
   */
  async read(imageData) {
    const cv = this.cv;
    const t0 = performance.now();
    const rgba = cv.matFromImageData(imageData);
    const bgr = new cv.Mat();
    cv.cvtColor(rgba, bgr, cv.COLOR_RGBA2BGR);
    rgba.delete();
    try {
      const polygons = await this.detect(bgr);
      const t1 = performance.now();
      const results = await this.recognize(bgr, polygons);
      const t2 = performance.now();
      const lines = polygons.map((polygon, i) => ({ ...results[i], polygon }));
      return { lines, timings: { detectMs: t1 - t0, recognizeMs: t2 - t1, totalMs: t2 - t0 } };
    } finally {
      bgr.delete();
    }
  }

  /** Text polygons (4 points, clockwise from top-left, image pixels), in reading order. */
  async detect(bgr) {
    const cv = this.cv;
    const { tensor, width, height, scaleX, scaleY } = detectionInput(cv, bgr, this.settings);
    const out = await this.det.run({ [this.det.inputNames[0]]: tensor });
    const prob = out[this.det.outputNames[0]];
    const [, , ph, pw] = prob.dims;
    const boxes = detectionBoxes(cv, prob.data, pw, ph, this.detParams);
    prob.dispose?.();
    tensor.dispose?.();
    return boxes.map((box) =>
      box.map(([x, y]) => [clamp(x * scaleX, 0, bgr.cols), clamp(y * scaleY, 0, bgr.rows)]),
    ).sort(readingOrder);
  }

  /** Greedy text of each polygon's rectified crop. */
  async recognize(bgr, polygons) {
    const cv = this.cv;
    const lines = polygons.map((poly) => {
      const crop = cropLine(cv, bgr, poly);
      const gray = resizeLine(cv, crop, this.recHeight);
      crop.delete();
      return gray;
    });
    const results = new Array(lines.length);
    try {
      // Widest first: batches of similar widths waste little on padding.
      const order = lines.map((_, i) => i).sort((a, b) => lines[b].cols - lines[a].cols);
      for (let s = 0; s < order.length; s += this.settings.recBatch) {
        const idx = order.slice(s, s + this.settings.recBatch);
        const batch = prepareLineBatch(idx.map((i) => lines[i]), this.recHeight);
        const tensor = new ort.Tensor("float32", batch.data, [idx.length, 1, this.recHeight, batch.width]);
        const out = await this.rec.run({ [this.rec.inputNames[0]]: tensor });
        const probs = out[this.rec.outputNames[0]];
        const [, frames, classes] = probs.dims;
        idx.forEach((lineIndex, b) => {
          // Frames past the line's own width only saw padding.
          const own = Math.min(frames, Math.ceil(lines[lineIndex].cols / 4));
          const view = probs.data.subarray(b * frames * classes, (b * frames + own) * classes);
          results[lineIndex] = greedyDecode(view, own, classes, this.charset);
        });
        probs.dispose?.();
      }
    } finally {
      lines.forEach((m) => m.delete());
    }
    return results;
  }
}

/** Resizes so the longest side is at most maxSide, both sides multiples of 32; BGR NCHW in [-1, 1]. */
export function detectionInput(cv, bgr, { maxSide, minSide }) {
  const h = bgr.rows;
  const w = bgr.cols;
  const ratio = Math.min(1, maxSide / Math.max(h, w));
  const rh = Math.max(minSide, Math.round((h * ratio) / 32) * 32);
  const rw = Math.max(minSide, Math.round((w * ratio) / 32) * 32);
  const resized = new cv.Mat();
  cv.resize(bgr, resized, new cv.Size(rw, rh), 0, 0, cv.INTER_LINEAR);
  const src = resized.data;
  const plane = rh * rw;
  const data = new Float32Array(3 * plane);
  for (let i = 0, p = 0; p < plane; p++, i += 3) {
    data[p] = src[i] / 127.5 - 1;
    data[plane + p] = src[i + 1] / 127.5 - 1;
    data[2 * plane + p] = src[i + 2] / 127.5 - 1;
  }
  resized.delete();
  return { tensor: new ort.Tensor("float32", data, [1, 3, rh, rw]), width: rw, height: rh, scaleX: w / rw, scaleY: h / rh };
}

function readingOrder(a, b) {
  // Top-left corners; lines whose tops are within a few pixels count as one row, read left to right.
  const dy = a[0][1] - b[0][1];
  if (Math.abs(dy) > 5) return dy;
  return a[0][0] - b[0][0];
}

function clamp(v, lo, hi) {
  return Math.min(Math.max(v, lo), hi);
}

async function fetchOk(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url}: HTTP ${res.status}`);
  return res;
}
