// Line crops for the recognizer, as the Python pipeline makes them (ocrforge/pipeline.py
// order_quad/crop_quad/_crops and ocrforge/recognition/preprocess.py): the detector's quad is
// refitted to its minimum-area rectangle, perspective-warped upright (bilinear, edge replicated),
// turned if it is a vertical Chinese line, then gray at height 32 with the aspect kept, and
// batched right-padded by replicating the last column, scaled to [-1, 1].
import { boxPoints, minAreaRect, roundHalfEven } from "./detpost.js";
import { percentile } from "./images.js";

export const MIN_WIDTH = 16;
export const MAX_WIDTH = 2048;
export const WIDTH_MULTIPLE = 8; // preprocess.WIDTH_MULTIPLE: the largest width stride a model uses
export const VERTICAL_RATIO = 1.5; // PipelineConfig.vertical_ratio
export const VERTICAL_MIN_HEIGHT = 2.0; // PipelineConfig.vertical_min_height

const f32 = Math.fround;

/** pipeline.order_quad: minimum-area rectangle of the polygon as TL, TR, BR, BL. */
export function orderQuad(cv, polygon) {
  const box = boxPoints(cv, minAreaRect(cv, polygon.flat()));
  const byX = box.slice().sort((a, b) => a[0] - b[0]);
  const [tl, bl] = byX.slice(0, 2).sort((a, b) => a[1] - b[1]);
  const [tr, br] = byX.slice(2).sort((a, b) => a[1] - b[1]);
  return [tl, tr, br, bl];
}

/** np.linalg.norm of a float32 2-vector difference (float32 throughout). */
function norm32(a, b) {
  const dx = f32(a[0] - b[0]);
  const dy = f32(a[1] - b[1]);
  return f32(Math.sqrt(f32(f32(dx * dx) + f32(dy * dy))));
}

/** Crops of all quads on the page; tall crops that are several line heights long are turned. */
export function cropLines(cv, bgr, quads, pad = 0) {
  if (quads.length === 0) return [];
  const sizes = quads.map((q) => [norm32(q[1], q[0]), norm32(q[3], q[0])]);
  const shorts = sizes.map(([w, h]) => Math.min(w, h)).sort((a, b) => a - b);
  const mid = shorts.length >> 1;
  const typical = shorts.length % 2 ? shorts[mid] : f32((shorts[mid - 1] + shorts[mid]) / 2); // np.median, float32
  return quads.map((quad, i) => {
    const [w, h] = sizes[i];
    const crop = cropQuad(cv, bgr, quad, pad);
    const vertical = h >= f32(VERTICAL_RATIO * w) && h >= f32(VERTICAL_MIN_HEIGHT * typical);
    if (!vertical) return { crop, vertical };
    const turned = new cv.Mat();
    cv.rotate(crop, turned, cv.ROTATE_90_COUNTERCLOCKWISE); // np.rot90: the column's top becomes the left end
    crop.delete();
    return { crop: turned, vertical };
  });
}

/** pipeline.crop_quad: corners map to pixel edges of a w x h rectangle, `pad` x min(w, h) px of margin around it. */
export function cropQuad(cv, bgr, quad, pad = 0) {
  const [tl, tr, br, bl] = quad;
  const w = Math.max(roundHalfEven(Math.max(norm32(tr, tl), norm32(br, bl))), 1);
  const h = Math.max(roundHalfEven(Math.max(norm32(bl, tl), norm32(br, tr))), 1);
  const m = roundHalfEven(pad * Math.min(w, h));
  const src = cv.matFromArray(4, 1, cv.CV_32FC2, quad.flat());
  const dst = cv.matFromArray(4, 1, cv.CV_32FC2, [m, m, m + w, m, m + w, m + h, m, m + h]);
  const M = cv.getPerspectiveTransform(src, dst);
  const out = new cv.Mat();
  cv.warpPerspective(bgr, out, M, new cv.Size(w + 2 * m, h + 2 * m), cv.INTER_LINEAR, cv.BORDER_REPLICATE, new cv.Scalar());
  src.delete();
  dst.delete();
  M.delete();
  return out;
}

/** preprocess.resize_line: gray at `height` px, width by aspect ratio clamped to [MIN_WIDTH, MAX_WIDTH]. */
export function resizeLine(cv, image, height = 32) {
  const gray = new cv.Mat();
  if (image.channels() === 1) image.copyTo(gray);
  else cv.cvtColor(image, gray, cv.COLOR_BGR2GRAY);
  const h = gray.rows;
  const w = gray.cols;
  const newW = Math.min(Math.max(roundHalfEven((w * height) / h), MIN_WIDTH), MAX_WIDTH);
  const out = new cv.Mat();
  cv.resize(gray, out, new cv.Size(newW, height), 0, 0, h > height ? cv.INTER_AREA : cv.INTER_LINEAR);
  gray.delete();
  return out;
}

/**
 * preprocess.normalize_polarity: a gray line (CV_8UC1) is light text on a dark ground when Otsu's dark
 * class holds most of its pixels and most of its border, and its sharp detail (the line minus a wide
 * blur) is light; it is then inverted in place (dark-on-light, the polarity the recognizer reads best).
 * Returns whether it was.
 */
export function normalizePolarity(cv, line) {
  const binary = new cv.Mat();
  cv.threshold(line, binary, 0, 255, cv.THRESH_BINARY + cv.THRESH_OTSU);
  const { rows, cols } = binary;
  const px = binary.data;
  let light = 0;
  for (let i = 0; i < px.length; i++) if (px[i]) light++;
  // top and bottom rows, then the left and right columns without their corners
  let border = 0;
  let lightBorder = 0;
  const count = (i) => {
    border++;
    if (px[i]) lightBorder++;
  };
  for (let x = 0; x < cols; x++) count(x);
  for (let x = 0; x < cols; x++) count((rows - 1) * cols + x);
  for (let y = 1; y < rows - 1; y++) count(y * cols);
  for (let y = 1; y < rows - 1; y++) count(y * cols + cols - 1);
  binary.delete();
  if (2 * light >= rows * cols || 2 * lightBorder >= border) return false;
  const blurred = new cv.Mat();
  cv.GaussianBlur(line, blurred, new cv.Size(0, 0), 8, 8, cv.BORDER_DEFAULT);
  const pixels = line.data; // a Mat's .data getter makes a new view per call: read each once
  const smooth = blurred.data;
  const detail = new Float32Array(pixels.length);
  for (let i = 0; i < detail.length; i++) detail[i] = pixels[i] - smooth[i];
  blurred.delete();
  detail.sort();
  const at = (k) => detail[k];
  const invert = percentile(at, detail.length, 98) > -percentile(at, detail.length, 2);
  if (invert) cv.bitwise_not(line, line);
  return invert;
}

const SCALE = f32(2 / 255);

/** preprocess.pad_batch: gray lines (CV_8UC1, same height) -> float32 (N, 1, H, Wmax) in [-1, 1]. */
export function padBatch(lines, height = 32, multiple = WIDTH_MULTIPLE) {
  const widest = Math.max(...lines.map((m) => m.cols));
  const width = Math.ceil(widest / multiple) * multiple;
  const data = new Float32Array(lines.length * height * width);
  lines.forEach((m, n) => {
    const src = m.data;
    const w = m.cols;
    for (let y = 0; y < height; y++) {
      const row = (n * height + y) * width;
      for (let x = 0; x < width; x++) {
        const v = src[y * w + Math.min(x, w - 1)];
        // numpy's steps in float32 (x * (2/255), then - 1), so the model sees bit-equal inputs.
        data[row + x] = f32(f32(v * SCALE) - 1);
      }
    }
  });
  return { data, width };
}
