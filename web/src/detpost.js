// DB-style detection post-processing (Liao et al., "Real-time Scene Text Detection with
// Differentiable Binarization"), step for step as ocrforge/detection/postprocess.py does it:
// threshold -> contours -> score = mean probability inside the contour -> unclip the contour's
// minimum-area box by D = A * ratio / L -> minimum-area box again -> image coordinates.
// Contours, rectangles, areas and the masked mean come from OpenCV.js (the same OpenCV major
// version as the Python wheel) and the offset from clipper-lib (the JS port of the Clipper library
// that pyclipper wraps), so the boxes equal the Python ones.
import ClipperLib from "clipper-lib";

/** ocrforge.detection.postprocess.PostprocessConfig defaults (the model's metadata overrides three). */
export const DET_DEFAULTS = Object.freeze({
  thresh: 0.3,
  boxThresh: 0.5,
  unclipRatio: 1.6,
  minSize: 3,
  maxCandidates: 1000,
});

const f32 = Math.fround;

/**
 * @param {object} cv OpenCV.js
 * @param {Float32Array} prob probability map, row-major (h, w), of the resized input
 * @param {{sx: number, sy: number, imageWidth: number, imageHeight: number}} geometry map px -> image px
 * @returns {Array<{polygon: number[][], score: number}>} 4 points (TL, TR, BR, BL) in image px,
 *   sorted top to bottom, then left to right
 */
export function detectionBoxes(cv, prob, w, h, params, geometry) {
  const cfg = { ...DET_DEFAULTS, ...params };
  const { sx, sy, imageWidth, imageHeight } = geometry;
  const bitmap = new cv.Mat(h, w, cv.CV_8UC1);
  const bits = bitmap.data;
  // Compare in float32, as numpy compares a float32 map with a Python float.
  const thresh = f32(cfg.thresh);
  for (let i = 0; i < w * h; i++) bits[i] = prob[i] > thresh ? 1 : 0;
  const contours = new cv.MatVector();
  const hierarchy = new cv.Mat();
  cv.findContours(bitmap, contours, hierarchy, cv.RETR_LIST, cv.CHAIN_APPROX_SIMPLE);
  bitmap.delete();
  hierarchy.delete();
  const probMat = cv.matFromArray(h, w, cv.CV_32FC1, prob);
  const scale = [f32(sx), f32(sy)];
  const out = [];
  try {
    const n = Math.min(contours.size(), cfg.maxCandidates);
    for (let i = 0; i < n; i++) {
      const contour = contours.get(i);
      const points = Array.from(contour.data32S);
      contour.delete();
      if (points.length / 2 < 3) continue;
      const rect = minAreaRect(cv, points);
      if (Math.min(rect.size.width, rect.size.height) < cfg.minSize) continue;
      const score = meanScore(cv, probMat, points);
      if (score < cfg.boxThresh) continue;
      const grown = unclip(cv, boxPoints(cv, rect), cfg.unclipRatio);
      if (!grown) continue;
      const rect2 = minAreaRect(cv, grown.flat());
      if (Math.min(rect2.size.width, rect2.size.height) < cfg.minSize + 2) continue;
      const polygon = orderClockwise(boxPoints(cv, rect2)).map(([x, y]) => [
        clip(f32(x * scale[0]), 0, imageWidth - 1),
        clip(f32(y * scale[1]), 0, imageHeight - 1),
      ]);
      out.push({ polygon, score });
    }
  } finally {
    probMat.delete();
    contours.delete();
  }
  const key = (d) => [Math.min(...d.polygon.map((p) => p[1])), Math.min(...d.polygon.map((p) => p[0]))];
  out.sort((a, b) => {
    const [ay, ax] = key(a);
    const [by, bx] = key(b);
    return ay - by || ax - bx;
  });
  return out;
}

/** cv2.minAreaRect on float32 points (flat [x0, y0, x1, y1, ...]). */
export function minAreaRect(cv, flat) {
  const mat = cv.matFromArray(flat.length / 2, 1, cv.CV_32FC2, flat);
  try {
    return cv.minAreaRect(mat);
  } finally {
    mat.delete();
  }
}

/** cv2.boxPoints: the rectangle's 4 corners (float32, OpenCV's own order). */
export function boxPoints(cv, rect) {
  return cv.RotatedRect.points(rect).map((p) => [f32(p.x), f32(p.y)]);
}

/** 4 points -> TL, TR, BR, BL: the two left-most (stable by x) split by y, likewise the right two. */
export function orderClockwise(pts) {
  const byX = pts.slice().sort((a, b) => a[0] - b[0]);
  const [tl, bl] = byX.slice(0, 2).sort((a, b) => a[1] - b[1]);
  const [tr, br] = byX.slice(2).sort((a, b) => a[1] - b[1]);
  return [tl, tr, br, bl];
}

/** Mean probability inside the contour (polygon mask over its bounding rectangle). */
function meanScore(cv, probMat, flat) {
  const h = probMat.rows;
  const w = probMat.cols;
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (let i = 0; i < flat.length; i += 2) {
    minX = Math.min(minX, flat[i]);
    maxX = Math.max(maxX, flat[i]);
    minY = Math.min(minY, flat[i + 1]);
    maxY = Math.max(maxY, flat[i + 1]);
  }
  const x0 = clip(Math.floor(minX), 0, w - 1);
  const y0 = clip(Math.floor(minY), 0, h - 1);
  const x1 = clip(Math.ceil(maxX), 0, w - 1);
  const y1 = clip(Math.ceil(maxY), 0, h - 1);
  const mask = cv.Mat.zeros(y1 - y0 + 1, x1 - x0 + 1, cv.CV_8UC1);
  const shifted = flat.map((v, i) => (i % 2 === 0 ? v - x0 : v - y0));
  const poly = cv.matFromArray(shifted.length / 2, 1, cv.CV_32SC2, shifted);
  const polys = new cv.MatVector();
  polys.push_back(poly);
  cv.fillPoly(mask, polys, new cv.Scalar(1));
  const roi = probMat.roi(new cv.Rect(x0, y0, x1 - x0 + 1, y1 - y0 + 1));
  const mean = cv.mean(roi, mask)[0];
  roi.delete();
  polys.delete();
  poly.delete();
  mask.delete();
  return mean;
}

/**
 * Grows a polygon by area * ratio / perimeter with round joins; null when nothing is left.
 * pyclipper gets the polygon rounded half-to-even to integers (numpy's round), and of several
 * result paths the largest is kept.
 */
export function unclip(cv, poly, ratio) {
  const mat = cv.matFromArray(poly.length, 1, cv.CV_32FC2, poly.flat());
  const area = cv.contourArea(mat, false);
  const length = cv.arcLength(mat, true);
  mat.delete();
  if (length <= 0) return null;
  const d = (area * ratio) / length;
  const path = poly.map(([x, y]) => ({ X: roundHalfEven(x), Y: roundHalfEven(y) }));
  const offset = new ClipperLib.ClipperOffset(2.0, 0.25);
  offset.AddPath(path, ClipperLib.JoinType.jtRound, ClipperLib.EndType.etClosedPolygon);
  const solution = new ClipperLib.Paths();
  offset.Execute(solution, d);
  if (solution.length === 0) return null;
  let best = solution[0];
  for (const p of solution.slice(1)) if (Math.abs(ClipperLib.Clipper.Area(p)) > Math.abs(ClipperLib.Clipper.Area(best))) best = p;
  return best.map((p) => [p.X, p.Y]);
}

/** numpy's / Python's round: halves go to the even neighbour (Math.round sends them up). */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function clip(v, lo, hi) {
  return Math.min(Math.max(v, lo), hi);
}
