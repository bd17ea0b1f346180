// The two page steps of Python's auto preprocessing that the browser runs too, in its order:
// - invert: a page of light text on a dark ground (dark mode, negatives) turned dark-on-light
//   (ocrforge/preprocess/polarity.py measure_polarity): the detector and the ink measurements
//   below assume dark ink on light paper;
// - upscale: a page whose text is small enlarged before detection (preprocess/_common.py
//   analyse_ink, preprocess/pipeline.py _auto, preprocess/scale.py upscale_factor and upscale).
//   The detector learnt characters ~9-23 px high at its input and never enlarges a page: a
//   thumbnail or a page photographed from afar reaches it with 4-10 px characters and most lines
//   go unseen. The text's height is the median ink blob of the page; under MIN_TEXT px (as the
//   detector will see it) the page grows toward TARGET_TEXT px, bicubic.
// Every other auto step (denoise, perspective, orientation, deskew, contrast) stays on the Python side.
import { roundHalfEven } from "./detpost.js";
import { percentile, shrink } from "./images.js";

export const ANALYSIS_MAX_SIDE = 1000; // preprocess._common.ANALYSIS_MAX_SIDE
export const POLARITY_SIDE = 512; // preprocess.polarity.ANALYSIS_SIDE
export const MAX_LIGHT_PIECE = 0.02; // preprocess.polarity.MAX_LIGHT_PIECE
export const MIN_TEXT = 12.0; // AutoConfig.min_text_height
export const TARGET_TEXT = 18.0; // AutoConfig.target_text_height
export const MAX_FACTOR = 4.0; // preprocess.scale.MAX_FACTOR

/** preprocess._common.downscale: [gray with its longer side <= maxSide, scale] (`gray` itself when not shrunk). */
function downscale(cv, gray, maxSide) {
  const scale = Math.min(1, maxSide / Math.max(gray.rows, gray.cols));
  if (scale >= 1) return [gray, 1];
  const w = Math.max(1, roundHalfEven(gray.cols * scale));
  const h = Math.max(1, roundHalfEven(gray.rows * scale));
  return [shrink(cv, gray, w, h, scale), scale];
}

/** np.percentile(values, q) of uint8 values given as their histogram (`n` values in all). */
function percentileU8(hist, n, q) {
  const at = (k) => {
    let seen = 0;
    for (let v = 0; v < 256; v++) {
      seen += hist[v];
      if (seen > k) return v;
    }
    return 255;
  };
  return percentile(at, n, q);
}

/**
 * preprocess.polarity.measure_polarity: light text on a dark ground? Otsu splits the page into a dark
 * and a light class; the dark class must hold most of it and no light piece may be larger than a
 * word (a light receipt on a dark table is one big light piece).
 */
export function isLightOnDark(cv, gray) {
  const [small] = downscale(cv, gray, POLARITY_SIDE);
  const binary = new cv.Mat();
  const labels = new cv.Mat();
  const stats = new cv.Mat();
  const centroids = new cv.Mat();
  try {
    cv.threshold(small, binary, 0, 255, cv.THRESH_BINARY + cv.THRESH_OTSU);
    const size = binary.rows * binary.cols;
    const pixels = binary.data; // a Mat's .data getter makes a new view per call: read it once
    let light = 0;
    for (let i = 0; i < size; i++) if (pixels[i]) light++;
    const count = cv.connectedComponentsWithStats(binary, labels, stats, centroids, 8, cv.CV_32S);
    const s = stats.data32S;
    let largest = 0;
    for (let k = 1; k < count; k++) largest = Math.max(largest, s[5 * k + 4]);
    return 1 - light / size > 0.5 && largest / size < MAX_LIGHT_PIECE;
  } finally {
    [binary, labels, stats, centroids].forEach((m) => m.delete());
    if (small !== gray) small.delete();
  }
}

/** The median height (input px) of the page's text-sized ink blobs, from its gray copy; 0 when fewer than 5 (analyse_ink + _auto). */
export function textHeight(cv, gray) {
  const [small, scale] = downscale(cv, gray, ANALYSIS_MAX_SIDE);
  const mats = [];
  if (small !== gray) mats.push(small);
  try {
    const h = small.rows;
    const w = small.cols;
    const hist = new Float64Array(256);
    const pixels = small.data; // read the getter once (it makes a new view per call)
    let n = 0;
    for (let y = 0; y < h; y += 3) {
      for (let x = 0, i = y * w; x < w; x += 3, i += 3) {
        hist[pixels[i]]++;
        n++;
      }
    }
    const low = percentileU8(hist, n, 1);
    const high = percentileU8(hist, n, 99);
    let stretched = small;
    if (high - low < 160) {
      // A faint page: stretch a copy so the mask's fixed offset still separates ink.
      const gain = 255 / Math.max(high - low, 8);
      stretched = new cv.Mat();
      mats.push(stretched);
      cv.convertScaleAbs(small, stretched, gain, -low * gain);
    }
    // ink_mask: a local mean threshold, so flat paper and mild noise do not become ink
    let block = Math.max(15, Math.trunc(Math.min(h, w) / 25));
    if (block % 2 === 0) block += 1;
    const blurred = new cv.Mat();
    const mask = new cv.Mat();
    const labels = new cv.Mat();
    const stats = new cv.Mat();
    const centroids = new cv.Mat();
    mats.push(blurred, mask, labels, stats, centroids);
    cv.GaussianBlur(stretched, blurred, new cv.Size(3, 3), 0, 0, cv.BORDER_DEFAULT);
    cv.adaptiveThreshold(blurred, mask, 255, cv.ADAPTIVE_THRESH_MEAN_C, cv.THRESH_BINARY_INV, block, 12);
    const count = cv.connectedComponentsWithStats(mask, labels, stats, centroids, 8, cv.CV_32S);
    const s = stats.data32S; // rows of x, y, width, height, area
    const heights = [];
    for (let k = 1; k < count; k++) {
      const bw = s[5 * k + 2];
      const bh = s[5 * k + 3];
      // photos, logos and page edges are big both ways; thin rules still follow the text
      if (bw > w / 5 && bh > h / 5) continue;
      if (s[5 * k + 4] >= 4) heights.push(bh);
    }
    if (heights.length < 5) return 0;
    heights.sort((a, b) => a - b);
    const mid = heights.length >> 1;
    const median = heights.length % 2 ? heights[mid] : (heights[mid - 1] + heights[mid]) / 2;
    return median / scale;
  } finally {
    mats.forEach((m) => m.delete());
  }
}

/** preprocess.scale.upscale_factor: how much to enlarge a page whose text is `textPx` high (1: leave it). */
export function upscaleFactor(textPx, longSide, maxSide, minText = MIN_TEXT, targetText = TARGET_TEXT) {
  if (textPx <= 0) return 1;
  const seen = textPx * Math.min(1, maxSide / longSide);
  if (seen >= minText) return 1;
  const factor = Math.min(targetText / textPx, MAX_FACTOR, maxSide / longSide);
  return factor >= 1.25 ? factor : 1; // a few pixels more are not worth a resampling
}

/**
 * The page as the browser reads it: `{ mat, invert, factor, toInput }`, `mat` inverted when it is
 * light-on-dark and enlarged when its text is small (a new Mat the caller frees), or `null` when
 * neither applies; `toInput` maps a point of `mat` back to the input's pixels.
 */
export function preparePage(cv, bgr, maxSide) {
  const gray = new cv.Mat();
  let page = bgr;
  let enlarged = null;
  let invert = false;
  let done = false;
  try {
    cv.cvtColor(bgr, gray, cv.COLOR_BGR2GRAY);
    invert = isLightOnDark(cv, gray);
    if (invert) {
      page = new cv.Mat();
      cv.bitwise_not(bgr, page);
      // the gray of the inverted page, as Python measures it (not 255 - gray: rounding differs)
      cv.cvtColor(page, gray, cv.COLOR_BGR2GRAY);
    }
    enlarged = upscaleSmallPage(cv, page, gray, maxSide);
    done = true;
  } finally {
    gray.delete();
    if (page !== bgr && (enlarged || !done)) page.delete();
  }
  if (enlarged) return { ...enlarged, invert };
  return invert ? { mat: page, invert, factor: 1, toInput: (p) => p } : null;
}

/**
 * The page enlarged for the detector when its text is small (measured on `gray`, its gray copy), else `null`.
 * Returns `{ mat, factor, toInput }`; `toInput` maps a point of the enlarged page back to the
 * input's pixels the way cv2.resize samples (x_in = (x_out + 0.5) * sx - 0.5).
 */
export function upscaleSmallPage(cv, bgr, gray, maxSide) {
  const w = bgr.cols;
  const h = bgr.rows;
  const factor = upscaleFactor(textHeight(cv, gray), Math.max(w, h), maxSide);
  if (factor <= 1) return null;
  const size = new cv.Size(roundHalfEven(w * factor), roundHalfEven(h * factor));
  const mat = new cv.Mat();
  cv.resize(bgr, mat, size, 0, 0, cv.INTER_CUBIC);
  const sx = w / size.width;
  const sy = h / size.height;
  return { mat, factor, toInput: ([x, y]) => [(x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5] };
}
