// The reading path in the browser: detector -> line quads -> rectified crops -> recognizer ->
// greedy CTC, step for step as the Python pipeline runs it with preprocess="none"
// (ocrforge/detection/predictor.py, ocrforge/pipeline.py, ocrforge/recognition/predictor.py), so
// both read the same text from the same pixels. Of the page preprocessing two of auto mode's steps
// run here (pagescale.js): dark pages are inverted and pages with small text enlarged; deskew,
// perspective, denoise... and layout analysis stay on the Python side; lines come out top to bottom.
// Model I/O follows the ONNX contracts; thresholds, charset version, input height and width
// stride come from each model's metadata_props via models/manifest.json.
import * as ort from "onnxruntime-web/wasm";
import { DET_DEFAULTS, detectionBoxes, roundHalfEven } from "./detpost.js";
import { cropLines, normalizePolarity, orderQuad, padBatch, resizeLine } from "./lines.js";
import { greedyDecode, parseCharset } from "./ctc.js";
import { LINE_H, LINE_W, isUpsideDown, upsideDownProbs } from "./orientation.js";
import { preparePage } from "./pagescale.js";
import { shrink } from "./images.js";
import { lineCalibration } from "./calibration.js";

/** Settings of the reading path; defaults match ocrforge.pipeline.PipelineConfig and the predictors. */
export const DEFAULTS = Object.freeze({
  maxSide: 1280, // det_max_side: the detector sees the page at most this large
  batchSize: 64, // lines per recognizer call (PipelineConfig.batch_size)
  maxBatchPixels: 32 * 800 * 16, // TextRecognizer.max_batch_pixels
  maxPad: 64, // TextRecognizer.max_pad: a batch never pads a line by more than this
  cropPad: 0.15, // PipelineConfig.crop_pad
  dropEmpty: true,
  flipCheck: true, // PipelineConfig.flip_check: upside-down pages are turned and read again
  pagePrep: true, // AutoConfig.polarity + upscale: dark pages inverted, small text enlarged (pagescale.js)
  threads: 0, // 0: as many as the page may use (1 unless cross-origin isolated)
});

/**
 * Waits for OpenCV.js (a classic script on the page) to be ready; resolves to `{ cv }`.
 *
 * The result is wrapped on purpose: depending on the build, the Emscripten module is a promise
 * or a thenable whose `then` calls back with the module itself, and resolving a promise with such
 * a thenable never settles. The split build (scripts/opencv-split.mjs) leaves a failure to fetch
 * or compile opencv.wasm on `cvLoadError`.
 */
export async function loadOpenCv(win = globalThis) {
  let poll;
  const failed = new Promise((_, reject) => {
    poll = setInterval(() => {
      if (win.cvLoadError) reject(new Error(`OpenCV.js did not load: ${win.cvLoadError.message || win.cvLoadError}`));
    }, 50);
  });
  try {
    return await Promise.race([failed, whenOpenCvReady(win)]);
  } finally {
    clearInterval(poll);
  }
}

async function whenOpenCvReady(win) {
  const deadline = performance.now() + 60000;
  while (!win.cv && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
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

function metaNumber(meta, key, fallback) {
  if (meta[key] === undefined) return fallback;
  const v = Number(meta[key]);
  if (!Number.isFinite(v)) throw new Error(`model metadata ${key}=${JSON.stringify(meta[key])} is not a number`);
  return v;
}

export class BrowserOCR {
  /** Use BrowserOCR.create(). */
  constructor(cv, { det, rec, orient = null, calibrate = null, charset, manifest, settings }) {
    this.cv = cv;
    this.det = det;
    this.rec = rec;
    // The 0/180 line classifier, or a promise of it (it loads after the two reading models, off
    // the start-up path), or null when the build has none.
    this.orient = orient;
    this.charset = charset;
    this.manifest = manifest;
    this.calibrate = calibrate; // (text, raw, charScores) -> calibrated line confidence (calibration.js), or null: raw scores
    this.settings = settings;
    const detMeta = manifest.det.metadata || {};
    this.detParams = {
      thresh: metaNumber(detMeta, "thresh", DET_DEFAULTS.thresh),
      boxThresh: metaNumber(detMeta, "box_thresh", DET_DEFAULTS.boxThresh),
      unclipRatio: metaNumber(detMeta, "unclip_ratio", DET_DEFAULTS.unclipRatio),
    };
    const orientMeta = manifest.orient?.metadata || {};
    this.orientHeight = metaNumber(orientMeta, "input_height", LINE_H);
    this.orientWidth = metaNumber(orientMeta, "input_width", LINE_W);
    const recMeta = manifest.rec.metadata || {};
    this.recHeight = metaNumber(recMeta, "input_height", 32);
    this.widthStride = metaNumber(recMeta, "width_stride", 4);
    const classes = rec.outputMetadata?.[0]?.shape?.at?.(-1);
    if (typeof classes === "number" && classes !== charset.length + 1) {
      throw new Error(`recognizer has ${classes} classes but the charset has ${charset.length + 1}`);
    }
  }

  /**
   * Fetches the manifest, both models and the charset from `baseUrl`/models/ and starts the
   * ONNX Runtime sessions. `opencv` is `{ cv }` (as loadOpenCv resolves; the module itself is a
   * thenable that must not be awaited) or a promise of it: the models load while OpenCV.js is
   * still starting, so the slower of the two sets the start-up time, not their sum.
   */
  static async create(opencv, baseUrl, options = {}) {
    const settings = { ...DEFAULTS, ...options };
    ort.env.wasm.numThreads = wasmThreads(settings.threads);
    const modelsUrl = new URL("models/", baseUrl);
    const manifest = await (await fetchOk(new URL("manifest.json", modelsUrl))).json();
    // The build ships graphs already optimized where that is bit-identical (scripts/preoptimize.mjs)
    // and says so per model; optimizing them again would only cost start-up time.
    const sessionOptions = (entry) => ({ executionProviders: ["wasm"], graphOptimizationLevel: entry.graphOptimizationLevel || "all" });
    const bytes = (file) => fetchOk(new URL(file, modelsUrl)).then((r) => r.arrayBuffer()).then((b) => new Uint8Array(b));
    const recBytes = bytes(manifest.rec.file);
    const charsetText = fetchOk(new URL(manifest.charset, modelsUrl)).then((r) => r.text());
    // The first session also starts ONNX Runtime's WebAssembly (streamed and compiled while the
    // recognizer downloads); a WebAssembly instance builds one session at a time, so the second
    // waits for the first.
    const det = bytes(manifest.det.file).then((b) => ort.InferenceSession.create(b, sessionOptions(manifest.det)));
    det.then(() => performance.mark("ocrforge:det-session"), () => {});
    const rec = Promise.all([recBytes, det]).then(([b]) => ort.InferenceSession.create(b, sessionOptions(manifest.rec)));
    rec.then(() => performance.mark("ocrforge:rec-session"), () => {});
    // The orientation classifier (320 KB) is needed only after the first detection, so the page is
    // ready without it; a failure to load it turns the check off rather than the page.
    const orient = manifest.orient
      ? Promise.all([bytes(manifest.orient.file), rec])
          .then(([b]) => ort.InferenceSession.create(b, sessionOptions(manifest.orient)))
          .then(
            (session) => (performance.mark("ocrforge:orient-session"), session),
            (err) => (console.warn(`page orientation check off: ${err.message}`), null),
          )
      : null;
    // Calibrated confidences (calibration.js); without the file, or with a broken one, scores stay raw.
    const calibration = manifest.calibration
      ? fetchOk(new URL(manifest.calibration, modelsUrl)).then((r) => r.json()).then(lineCalibration,
          (err) => (console.warn(`confidence calibration off: ${err.message}`), null))
      : null;
    const [{ cv }, detSession, recSession, text, calibrate] = await Promise.all([opencv, det, rec, charsetText, calibration]);
    return new BrowserOCR(cv, { det: detSession, rec: recSession, orient, calibrate, charset: parseCharset(text), manifest, settings });
  }

  /**
   * Reads one image.
   * @param {ImageData} imageData RGBA pixels as decoded by the browser (no colour management)
   * @returns {Promise<{lines: Array<{text: string, confidence: number, rawConfidence: number, polygon: number[][], vertical: boolean}>, boxes: number[][][], rotation: number, timings: object}>}
   *   polygons in imageData's pixels; `rotation`: clockwise degrees the page was turned by (0 or
   *   180; Page.rotation in Python), the lines come out in reading order of the upright page;
   *   `orientation`: the upside-down check's vote (orientation.js isUpsideDown); `inverted`: the
   *   page was light-on-dark and read inverted; `upscale`: the factor a page with small text was
   *   enlarged by before detection (1: as it came)
   */
  async read(imageData) {
    const cv = this.cv;
    const t0 = performance.now();
    let bgr = imageToBgr(cv, imageData);
    let lines = null;
    try {
      const prepared = this.settings.pagePrep ? preparePage(cv, bgr, this.settings.maxSide) : null;
      if (prepared) {
        bgr.delete();
        bgr = prepared.mat;
      }
      const fromPage = prepared ? prepared.toInput : (p) => p;
      lines = await this.detectAndCrop(bgr);
      const t1 = performance.now();
      let turn = 0;
      const orient = this.settings.flipCheck ? await this.orient : null;
      const orientation = orient ? await this.upsideDown(orient, lines) : null;
      if (orientation?.upsideDown) {
        // OCR.orient_page: turn the page and detect again (the detector separates the lines of an
        // upright page better than the crops of an upside-down one could be mended).
        const turned = new cv.Mat();
        cv.rotate(bgr, turned, cv.ROTATE_180);
        bgr.delete();
        bgr = turned;
        freeLines(lines);
        lines = null; // freed: a failure below must not free them twice
        lines = await this.detectAndCrop(bgr);
        turn = 180;
      }
      const t2 = performance.now();
      const results = await this.recognize(lines.crops);
      const t3 = performance.now();
      // Back to the input's pixels: a 180° turn maps (x, y) of the turned w x h page to (w - x, h - y),
      // then an enlarged page's points shrink back.
      const w = bgr.cols;
      const h = bgr.rows;
      const unturn = turn === 180 ? ([x, y]) => [w - x, h - y] : (p) => p;
      const toInput = (q) => q.map((p) => fromPage(unturn(p)));
      const out = [];
      lines.quads.forEach((quad, i) => {
        const r = results[i];
        if (this.settings.dropEmpty && r.text.trim() === "") return;
        // The orientation check votes on raw scores (as in Python); lines report calibrated ones.
        const confidence = this.calibrate ? this.calibrate(r.text, r.confidence, r.charScores) : r.confidence;
        out.push({ text: r.text, confidence, rawConfidence: r.confidence, charScores: r.charScores, polygon: toInput(quad),
          vertical: lines.vertical[i] });
      });
      // `boxes`: every detected quad, also those read as empty (dropped from `lines` like in Python).
      return {
        lines: out,
        boxes: lines.quads.map(toInput),
        rotation: turn,
        inverted: Boolean(prepared?.invert),
        upscale: prepared ? prepared.factor : 1,
        orientation, // what the upside-down check saw (null when it did not run)
        timings: { detectMs: t1 - t0, orientMs: t2 - t1, recognizeMs: t3 - t2, totalMs: t3 - t0 },
      };
    } finally {
      if (lines) freeLines(lines);
      bgr.delete();
    }
  }

  /** OCR._detect_and_crop: the page's line quads (TL, TR, BR, BL) and their crops for the recognizer. */
  async detectAndCrop(bgr) {
    const detections = await this.detect(bgr);
    const quads = detections.map((d) => orderQuad(this.cv, d.polygon));
    const crops = cropLines(this.cv, bgr, quads, this.settings.cropPad);
    return { quads, crops: crops.map((c) => c.crop), vertical: crops.map((c) => c.vertical) };
  }

  /** orientation.is_upside_down with this page's classifier and recognizer (raw greedy confidences). */
  upsideDown(orient, lines) {
    const probs = (crops) => upsideDownProbs(ort, orient, this.cv, crops, this.orientHeight, this.orientWidth);
    const confidences = async (crops) => (await this.recognize(crops)).map((r) => r.confidence);
    return isUpsideDown(this.cv, lines, probs, confidences);
  }

  /** TextDetector.detect: polygons in image pixels, top to bottom. */
  async detect(bgr) {
    const { tensor, sx, sy } = detectionInput(this.cv, bgr, this.settings.maxSide);
    const out = await this.det.run({ [this.det.inputNames[0]]: tensor });
    const prob = out[this.det.outputNames[0]];
    const [, , ph, pw] = prob.dims;
    try {
      return detectionBoxes(this.cv, prob.data, pw, ph, this.detParams, {
        sx, sy, imageWidth: bgr.cols, imageHeight: bgr.rows,
      });
    } finally {
      prob.dispose?.();
      tensor.dispose?.();
    }
  }

  /** Greedy text of each crop (BGR cv.Mat), batched as OCR._recognize + TextRecognizer.predict_probs do. */
  async recognize(crops) {
    const results = [];
    for (let s = 0; s < crops.length; s += this.settings.batchSize) {
      results.push(...(await this.recognizeChunk(crops.slice(s, s + this.settings.batchSize))));
    }
    return results;
  }

  async recognizeChunk(crops) {
    const height = this.recHeight;
    const lines = crops.map((c) => resizeLine(this.cv, c, height));
    lines.forEach((m) => normalizePolarity(this.cv, m));
    const results = new Array(lines.length);
    try {
      // Narrowest first; a batch grows while (lines x widest) stays within the pixel budget and
      // padding stays within maxPad.
      const order = lines.map((_, i) => i).sort((a, b) => lines[a].cols - lines[b].cols);
      let start = 0;
      while (start < order.length) {
        let end = start + 1;
        const first = lines[order[start]].cols;
        while (
          end < order.length &&
          lines[order[end]].cols - first <= this.settings.maxPad &&
          (end + 1 - start) * lines[order[end]].cols * height <= this.settings.maxBatchPixels
        ) end++;
        const idx = order.slice(start, end);
        const batch = padBatch(idx.map((i) => lines[i]), height);
        const tensor = new ort.Tensor("float32", batch.data, [idx.length, 1, height, batch.width]);
        const out = await this.rec.run({ [this.rec.inputNames[0]]: tensor });
        const probs = out[this.rec.outputNames[0]];
        const [, frames, classes] = probs.dims;
        idx.forEach((lineIndex, b) => {
          // Frames past the line's own width only saw padding.
          const own = Math.min(frames, Math.ceil(lines[lineIndex].cols / this.widthStride));
          const view = probs.data.subarray(b * frames * classes, (b * frames + own) * classes);
          results[lineIndex] = greedyDecode(view, own, classes, this.charset);
        });
        probs.dispose?.();
        tensor.dispose?.();
        start = end;
      }
    } finally {
      lines.forEach((m) => m.delete());
    }
    return results;
  }
}

function freeLines(lines) {
  lines.crops.forEach((c) => c.delete());
}

/**
 * RGBA pixels -> BGR cv.Mat; transparent pixels are laid on white in float32 and rounded half to
 * even, as ocrforge.io does (`_composite_on_white`), so a transparent PNG reads the same.
 */
export function imageToBgr(cv, imageData) {
  const { width, height, data } = imageData;
  const bgr = new cv.Mat(height, width, cv.CV_8UC3);
  const out = bgr.data;
  const f32 = Math.fround;
  for (let p = 0, i = 0, o = 0; p < width * height; p++, i += 4, o += 3) {
    const alpha = data[i + 3];
    if (alpha === 255) {
      out[o] = data[i + 2];
      out[o + 1] = data[i + 1];
      out[o + 2] = data[i];
      continue;
    }
    const a = f32(alpha / 255);
    const back = f32(255 * f32(1 - a));
    for (let c = 0; c < 3; c++) {
      const v = f32(f32(data[i + 2 - c] * a) + back);
      out[o + c] = Math.min(255, Math.max(0, roundHalfEven(v)));
    }
  }
  return bgr;
}

/** detection.predictor.resize_for_model + normalisation: BGR NCHW float32 in [-1, 1]. */
export function detectionInput(cv, bgr, maxSide, minSide = 32) {
  const h = bgr.rows;
  const w = bgr.cols;
  const s = Math.min(1, maxSide / Math.max(h, w));
  const nh = Math.max(minSide, roundHalfEven((h * s) / 32) * 32);
  const nw = Math.max(minSide, roundHalfEven((w * s) / 32) * 32);
  // Shrunk as in Python (io.images.shrink; INTER_AREA to a non-integer size is slow).
  const resized = shrink(cv, bgr, nw, nh, s);
  const src = resized.data;
  const plane = nh * nw;
  const data = new Float32Array(3 * plane);
  for (let i = 0, p = 0; p < plane; p++, i += 3) {
    // (x / 255 - 0.5) / 0.5 in float32, as numpy computes it.
    data[p] = Math.fround(Math.fround(src[i] / 255) - 0.5) * 2;
    data[plane + p] = Math.fround(Math.fround(src[i + 1] / 255) - 0.5) * 2;
    data[2 * plane + p] = Math.fround(Math.fround(src[i + 2] / 255) - 0.5) * 2;
  }
  resized.delete();
  return { tensor: new ort.Tensor("float32", data, [1, 3, nh, nw]), sx: w / nw, sy: h / nh };
}

async function fetchOk(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url}: HTTP ${res.status}`);
  return res;
}
