// Puts what the page loads at run time under public/ (vite copies public/ into dist/ verbatim):
//  - the detector and recognizer ONNX files, the 0/180 line classifier of the page-orientation check
//    (optional) and the charset, with a manifest.json that carries
//    each model's metadata_props (onnxruntime-web does not expose them), so thresholds and the
//    charset version come from the model file exactly as in the Python pipeline;
//  - OpenCV.js, served as plain files: a UMD script that a bundler gains nothing from parsing, with
//    its WebAssembly taken out into opencv.wasm so the browser can stream-compile it
//    (scripts/opencv-split.mjs). (onnxruntime-web's .wasm is found by vite itself through its
//    `new URL(..., import.meta.url)`.)
//  - the models pre-optimized where that is bit-identical (scripts/preoptimize.mjs).
//
// Models: OCRFORGE_DET_MODEL / OCRFORGE_REC_MODEL / OCRFORGE_ORIENT_MODEL when set; else the files
// the Python package reads by default (asked of python3, or $OCRFORGE_PYTHON); else the newest
// det_*.onnx / rec_*.onnx of the right task (and det_orient_line.onnx) in ../ocrforge/models, or in
// $OCRFORGE_MODELS_DIR when that is set.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { readOnnxMetadata } from "./onnx-metadata.mjs";
import { prepareModel } from "./preoptimize.mjs";
import { writeOpenCv } from "./opencv-split.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const webRoot = resolve(here, "..");
const repoRoot = resolve(webRoot, "..");
const publicDir = join(webRoot, "public");

function fail(message) {
  console.error(`copy-assets: ${message}`);
  process.exit(1);
}

/** The models the Python package reads by default (so the page and `OCR()` use the same files). */
function pythonDefaults() {
  const python = process.env.OCRFORGE_PYTHON || "python3";
  const code = [
    "from ocrforge.detection.predictor import default_model_path",
    "from ocrforge.recognition.predictor import DEFAULT_MODEL",
    "print(default_model_path()); print(DEFAULT_MODEL)",
    "try:",
    "    from ocrforge.detection.orientation import DEFAULT_LINE_MODEL",
    "    print(DEFAULT_LINE_MODEL)",
    "except ImportError:",
    "    print('')",
  ].join("\n");
  const run = spawnSync(python, ["-c", code], { cwd: repoRoot, encoding: "utf-8" });
  if (run.status !== 0) return {};
  const [det, rec, orient] = run.stdout.trim().split("\n");
  const found = (p) => (p && existsSync(p) ? p : null);
  return { det: found(det), rec: found(rec), orient: found(orient) };
}

/** Newest <prefix>*.onnx in dir whose metadata says it does `task` (det_orient_* is not a text detector). */
function pickModel(dir, prefix, task) {
  if (!existsSync(dir)) return null;
  // Plain files only: .fp16 twins are for GPU providers, which the browser build lacks.
  const names = readdirSync(dir)
    .filter((n) => n.startsWith(prefix) && n.endsWith(".onnx") && !n.endsWith(".fp16.onnx"))
    .filter((n) => (readOnnxMetadata(readFileSync(join(dir, n))).ocrforge_task || task) === task);
  if (names.length === 0) return null;
  names.sort((a, b) => statSync(join(dir, b)).mtimeMs - statSync(join(dir, a)).mtimeMs || a.localeCompare(b));
  return join(dir, names[0]);
}

const modelsDir = resolve(process.env.OCRFORGE_MODELS_DIR || join(repoRoot, "ocrforge", "models"));
const defaults = process.env.OCRFORGE_MODELS_DIR ? {} : pythonDefaults();
const detPath = process.env.OCRFORGE_DET_MODEL ? resolve(process.env.OCRFORGE_DET_MODEL) : defaults.det || pickModel(modelsDir, "det_", "detection");
const recPath = process.env.OCRFORGE_REC_MODEL ? resolve(process.env.OCRFORGE_REC_MODEL) : defaults.rec || pickModel(modelsDir, "rec_", "recognition");
if (!detPath || !existsSync(detPath)) fail(`no detector model (det_*.onnx) in ${modelsDir}`);
if (!recPath || !existsSync(recPath)) fail(`no recognizer model (rec_*.onnx) in ${modelsDir}`);
// The 0/180 line classifier of the page-orientation check: optional (the page reads without it).
const orientPath = process.env.OCRFORGE_ORIENT_MODEL
  ? resolve(process.env.OCRFORGE_ORIENT_MODEL)
  : defaults.orient || (existsSync(join(modelsDir, "det_orient_line.onnx")) ? join(modelsDir, "det_orient_line.onnx") : null);
if (process.env.OCRFORGE_ORIENT_MODEL && !existsSync(orientPath)) fail(`no orientation model at ${orientPath}`);

const detMeta = readOnnxMetadata(readFileSync(detPath));
const recMeta = readOnnxMetadata(readFileSync(recPath));
if (detMeta.ocrforge_task && detMeta.ocrforge_task !== "detection") fail(`${detPath} is not a detection model (ocrforge_task=${detMeta.ocrforge_task})`);
if (recMeta.ocrforge_task && recMeta.ocrforge_task !== "recognition") fail(`${recPath} is not a recognition model (ocrforge_task=${recMeta.ocrforge_task})`);
const charsetVersion = recMeta.charset_version || "v1";
const charsetPath = join(repoRoot, "ocrforge", "recognition", `charset_${charsetVersion}.txt`);
if (!existsSync(charsetPath)) fail(`charset ${charsetVersion} not found at ${charsetPath}`);

const modelsOut = join(publicDir, "models");
rmSync(modelsOut, { recursive: true, force: true });
mkdirSync(modelsOut, { recursive: true });
// Probe shapes for the pre-optimization check: any size the model takes (detector: multiples of 32).
const det = await prepareModel(detPath, modelsOut, [1, 3, 96, 128]);
const rec = await prepareModel(recPath, modelsOut, [2, 1, 32, 64]);
let orient = null;
if (orientPath) {
  const orientMeta = readOnnxMetadata(readFileSync(orientPath));
  if (orientMeta.ocrforge_task && orientMeta.ocrforge_task !== "line_orientation") fail(`${orientPath} is not a line orientation model (ocrforge_task=${orientMeta.ocrforge_task})`);
  const h = Number(orientMeta.input_height || 48);
  const w = Number(orientMeta.input_width || 192);
  orient = { ...(await prepareModel(orientPath, modelsOut, [2, 1, h, w])), source: basename(orientPath), metadata: orientMeta };
}
copyFileSync(charsetPath, join(modelsOut, basename(charsetPath)));
// `file` is what the page loads (the pre-optimized twin when there is one), `source` the model it came
// from, `graphOptimizationLevel` the session option the page must use with `file`.
const manifest = {
  det: { file: det.file, source: basename(detPath), graphOptimizationLevel: det.graphOptimizationLevel, metadata: detMeta },
  rec: { file: rec.file, source: basename(recPath), graphOptimizationLevel: rec.graphOptimizationLevel, metadata: recMeta },
  charset: basename(charsetPath),
};
if (orient) manifest.orient = { file: orient.file, source: orient.source, graphOptimizationLevel: orient.graphOptimizationLevel, metadata: orient.metadata };
// The recognizer's confidence calibration (rec_*.calib.json beside it), only if it was fitted for this
// very model: Python refuses a foreign file, the page would silently mislabel its scores.
const calibPath = recPath.replace(/\.onnx$/, ".calib.json");
if (existsSync(calibPath)) {
  const calib = JSON.parse(readFileSync(calibPath, "utf-8"));
  const sha = createHash("sha256").update(readFileSync(recPath)).digest("hex");
  if (calib.model_sha256 === sha) {
    copyFileSync(calibPath, join(modelsOut, basename(calibPath)));
    manifest.calibration = basename(calibPath);
  } else {
    console.warn(`copy-assets: ${basename(calibPath)} was fitted for another model; the page shows raw confidences`);
  }
}
writeFileSync(join(modelsOut, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");

const vendorOut = join(publicDir, "vendor");
rmSync(vendorOut, { recursive: true, force: true });
mkdirSync(vendorOut, { recursive: true });
const opencv = writeOpenCv(join(webRoot, "node_modules", "@techstark", "opencv-js", "dist", "opencv.js"), vendorOut);

console.log(`copy-assets: det=${basename(detPath)} (${det.note}) rec=${basename(recPath)} (${rec.note}) charset=${basename(charsetPath)}`);
console.log(`copy-assets: ${orient ? `orient=${orient.source} (${orient.note})` : "no line orientation model: the page skips the upside-down check"}`);
console.log(`copy-assets: OpenCV.js ${opencv.note}`);
