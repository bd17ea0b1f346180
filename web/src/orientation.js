// Upside-down pages, as ocrforge/detection/orientation.py decides them (is_upside_down): the
// widest horizontal line crops go to the 0/180 line classifier (det_orient_line.onnx) as cropped
// and turned by 180°; the page is upside down when the turned crops look more upright by a clear
// margin (a relative vote: the classifier's absolute score of turned receipt capitals and digits
// hovers near 0.5), and when the margin is thin the recognizer's mean confidence on both readings
// of the eight widest crops decides. The caller then turns the page and detects it again.
// The Python side also turns sideways pages (quarter_turn); the browser does not yet.
import { roundHalfEven } from "./detpost.js";

export const LINE_H = 48; // orientation.LINE_H / LINE_W; the model's metadata may say otherwise
export const LINE_W = 192;
export const MAX_LINES = 16; // is_upside_down(max_lines)
export const SURE_MARGIN = 0.2; // is_upside_down(sure_margin)
export const TIE_BREAK_LINES = 8;
const BATCH = 32; // LineOrientationClassifier(batch)

const f32 = Math.fround;

/**
 * numpy's pairwise sum (the algorithm np.sum / np.mean use on a contiguous 1-D array), so a mean
 * here equals numpy's to the bit: float32 accumulators for float32 data (`single`), else float64.
 */
export function pairwiseSum(values, single = false) {
  const add = single ? (a, b) => f32(a + b) : (a, b) => a + b;
  const n = values.length;
  if (n < 8) {
    let res = -0;
    for (let i = 0; i < n; i++) res = add(res, values[i]);
    return res;
  }
  if (n <= 128) {
    const r = values.slice(0, 8).map((v) => (single ? f32(v) : v));
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = add(r[j], values[i + j]);
    let res = add(add(add(r[0], r[1]), add(r[2], r[3])), add(add(r[4], r[5]), add(r[6], r[7])));
    for (; i < n; i++) res = add(res, values[i]);
    return res;
  }
  let n2 = n / 2;
  n2 -= n2 % 8;
  return add(pairwiseSum(values.slice(0, n2), single), pairwiseSum(values.slice(n2), single));
}

/** np.mean: float32 data -> float32 mean (single), float64 data -> float64 mean. */
export function npMean(values, single = false) {
  const s = pairwiseSum(values, single);
  return single ? f32(s / values.length) : s / values.length;
}

/**
 * orientation.line_tensor into `out` at `offset`: gray crop at height 48 keeping its aspect (at
 * most 192 wide), padded right with the median of its first and last columns, (x/255 - 0.5)/0.5
 * in float32.
 */
export function lineTensorInto(cv, crop, out, offset, height = LINE_H, width = LINE_W) {
  const gray = new cv.Mat();
  if (crop.channels() === 1) crop.copyTo(gray);
  else cv.cvtColor(crop, gray, cv.COLOR_BGR2GRAY);
  const h = gray.rows;
  const w = gray.cols;
  const nw = Math.max(1, Math.min(width, roundHalfEven((w * height) / Math.max(h, 1))));
  const r = new cv.Mat();
  cv.resize(gray, r, new cv.Size(nw, height), 0, 0, h > height ? cv.INTER_AREA : cv.INTER_LINEAR);
  gray.delete();
  const px = r.data;
  const edges = new Uint8Array(2 * height);
  for (let y = 0; y < height; y++) {
    edges[y] = px[y * nw];
    edges[height + y] = px[y * nw + nw - 1];
  }
  edges.sort();
  const m = edges.length >> 1;
  const fill = Math.trunc((edges[m - 1] + edges[m]) / 2); // int(np.median(...)) of an even count
  const norm = (v) => f32(f32(f32(v / 255) - 0.5) / 0.5);
  const fillValue = norm(fill);
  for (let y = 0; y < height; y++) {
    const row = offset + y * width;
    for (let x = 0; x < nw; x++) out[row + x] = norm(px[y * nw + x]);
    out.fill(fillValue, row + nw, row + width);
  }
  r.delete();
}

/** P(line is turned by 180°) of each crop (cv.Mat BGR or gray): LineOrientationClassifier.upside_down_probs. */
export async function upsideDownProbs(ort, session, cv, crops, height = LINE_H, width = LINE_W) {
  const probs = [];
  for (let s = 0; s < crops.length; s += BATCH) {
    const batch = crops.slice(s, s + BATCH);
    const data = new Float32Array(batch.length * height * width);
    batch.forEach((c, i) => lineTensorInto(cv, c, data, i * height * width, height, width));
    const input = new ort.Tensor("float32", data, [batch.length, 1, height, width]);
    const out = await session.run({ [session.inputNames[0]]: input });
    const p = out[session.outputNames[0]];
    for (let i = 0; i < batch.length; i++) probs.push(p.data[i * 2 + 1]);
    p.dispose?.();
    input.dispose?.();
  }
  return probs;
}

/**
 * orientation.is_upside_down.
 * @param {{crops: object[], vertical: boolean[]}} lines the page's line crops (cv.Mat, as the recognizer gets them)
 * @param {(crops: object[]) => Promise<number[]>} probs P(turned by 180°) per crop
 * @param {(crops: object[]) => Promise<number[]>} confidences the recognizer's raw confidence per crop
 * @returns {Promise<{upsideDown: boolean, lines: number, asIs?: number, turned?: number, confidenceAsIs?: number, confidenceTurned?: number}>}
 *   the decision with what it was made from: how many crops voted, the classifier's mean
 *   P(turned) of them as cropped and turned (and per crop, widest first, with the crops' [w, h]),
 *   and the recognizer's confidences when they decided
 */
export async function isUpsideDown(cv, lines, probs, confidences) {
  const horizontal = lines.crops.filter((c, i) => !lines.vertical[i] && c.cols >= 2 * c.rows);
  if (horizontal.length < 3) return { upsideDown: false, lines: horizontal.length };
  // Widest first; Python's sort is stable, so equal widths keep the page order.
  const widest = horizontal
    .map((c, i) => [c, i])
    .sort((a, b) => b[0].cols - a[0].cols || a[1] - b[1])
    .slice(0, MAX_LINES)
    .map(([c]) => c);
  const turned = widest.map((c) => {
    const t = new cv.Mat();
    cv.rotate(c, t, cv.ROTATE_180);
    return t;
  });
  try {
    const vote = { lines: widest.length, sizes: widest.map((c) => [c.cols, c.rows]) };
    vote.probsAsIs = await probs(widest);
    vote.probsTurned = await probs(turned);
    vote.asIs = npMean(vote.probsAsIs, true);
    vote.turned = npMean(vote.probsTurned, true);
    if (Math.abs(vote.asIs - vote.turned) >= SURE_MARGIN) return { upsideDown: vote.asIs > vote.turned, ...vote };
    vote.confidenceTurned = npMean(await confidences(turned.slice(0, TIE_BREAK_LINES)));
    vote.confidenceAsIs = npMean(await confidences(widest.slice(0, TIE_BREAK_LINES)));
    return { upsideDown: vote.confidenceTurned > vote.confidenceAsIs, ...vote };
  } finally {
    turned.forEach((t) => t.delete());
  }
}
