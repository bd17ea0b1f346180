// DB-style detection post-processing (Liao et al., "Real-time Scene Text Detection with
// Differentiable Binarization"), the same steps as the Python detector: binarize the probability
// map, take each connected region's contour, fit a minimum-area rectangle, drop weak or tiny ones,
// and grow the rectangle back by the unclip distance (the model predicts shrunk text kernels).
// Contours and rectangles come from OpenCV.js and the offset from Clipper (clipper-lib is the JS
// port of the Clipper library that pyclipper wraps), so the geometry matches cv2 + pyclipper.
import ClipperLib from "clipper-lib";

export const DET_DEFAULTS = Object.freeze({ maxCandidates: 1000, minSize: 3 });

/**
 * @param {object} cv OpenCV.js
 * @param {Float32Array} prob probability map, row-major (h, w)
 * @returns {number[][][]} boxes, each 4 [x, y] points in map pixels, clockwise from top-left
 */
export function detectionBoxes(cv, prob, w, h, params) {
  const { thresh, boxThresh, unclipRatio, maxCandidates, minSize } = { ...DET_DEFAULTS, ...params };
  const mask = new cv.Mat(h, w, cv.CV_8UC1);
  const m = mask.data;
  for (let i = 0; i < w * h; i++) m[i] = prob[i] > thresh ? 255 : 0;
  const contours = new cv.MatVector();
  const hierarchy = new cv.Mat();
  cv.findContours(mask, contours, hierarchy, cv.RETR_LIST, cv.CHAIN_APPROX_SIMPLE);
  mask.delete();
  hierarchy.delete();
  const boxes = [];
  const n = Math.min(contours.size(), maxCandidates);
  for (let i = 0; i < n; i++) {
    const contour = contours.get(i);
    const rect = cv.minAreaRect(contour);
    contour.delete();
    if (Math.min(rect.size.width, rect.size.height) < minSize) continue;
    const box = orderBox(rectPoints(cv, rect));
    if (boxScore(prob, w, h, box) < boxThresh) continue;
    const grown = unclip(box, unclipRatio);
    if (grown.length < 3) continue;
    const pts = cv.matFromArray(grown.length, 1, cv.CV_32SC2, grown.flat());
    const rect2 = cv.minAreaRect(pts);
    pts.delete();
    if (Math.min(rect2.size.width, rect2.size.height) < minSize + 2) continue;
    boxes.push(orderBox(rectPoints(cv, rect2)));
  }
  contours.delete();
  return boxes;
}

function rectPoints(cv, rect) {
  return cv.RotatedRect.points(rect).map((p) => [p.x, p.y]);
}

/** TL, TR, BR, BL: clockwise on screen, starting at the corner with the smallest x + y. */
export function orderBox(pts) {
  const cx = pts.reduce((s, p) => s + p[0], 0) / pts.length;
  const cy = pts.reduce((s, p) => s + p[1], 0) / pts.length;
  const sorted = pts.slice().sort((a, b) => Math.atan2(a[1] - cy, a[0] - cx) - Math.atan2(b[1] - cy, b[0] - cx));
  let start = 0;
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i][0] + sorted[i][1] < sorted[start][0] + sorted[start][1]) start = i;
  }
  return sorted.slice(start).concat(sorted.slice(0, start));
}

/** Mean probability inside the box (the "fast" score: polygon mask over its bounding rectangle). */
export function boxScore(prob, w, h, box) {
  const xs = box.map((p) => p[0]);
  const ys = box.map((p) => p[1]);
  const x0 = clampInt(Math.floor(Math.min(...xs)), 0, w - 1);
  const x1 = clampInt(Math.ceil(Math.max(...xs)), 0, w - 1);
  const y0 = clampInt(Math.floor(Math.min(...ys)), 0, h - 1);
  const y1 = clampInt(Math.ceil(Math.max(...ys)), 0, h - 1);
  // Integer vertices, truncated like numpy's astype(int32), relative to the rectangle.
  const poly = box.map(([x, y]) => [Math.trunc(x - x0), Math.trunc(y - y0)]);
  let sum = 0;
  let count = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (insideOrOn(poly, x - x0, y - y0)) {
        sum += prob[y * w + x];
        count++;
      }
    }
  }
  return count ? sum / count : 0;
}

/** Point in polygon, boundary included (fillPoly paints the outline too). */
function insideOrOn(poly, x, y) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    // On the segment?
    const cross = (xj - xi) * (y - yi) - (yj - yi) * (x - xi);
    if (cross === 0 && Math.min(xi, xj) <= x && x <= Math.max(xi, xj) && Math.min(yi, yj) <= y && y <= Math.max(yi, yj)) return true;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Grows a box by area * ratio / perimeter with round joins (Clipper offset, integer coordinates). */
export function unclip(box, ratio) {
  const area = Math.abs(polygonArea(box));
  const perimeter = box.reduce((s, p, i) => {
    const q = box[(i + 1) % box.length];
    return s + Math.hypot(q[0] - p[0], q[1] - p[1]);
  }, 0);
  if (perimeter === 0) return [];
  const distance = (area * ratio) / perimeter;
  // Clipper works on integers; pyclipper truncates floats toward zero, so do the same.
  const path = box.map(([x, y]) => ({ X: Math.trunc(x), Y: Math.trunc(y) }));
  const offset = new ClipperLib.ClipperOffset(2.0, 0.25);
  offset.AddPath(path, ClipperLib.JoinType.jtRound, ClipperLib.EndType.etClosedPolygon);
  const solution = new ClipperLib.Paths();
  offset.Execute(solution, distance);
  if (solution.length !== 1) return [];
  return solution[0].map((p) => [p.X, p.Y]);
}

function polygonArea(pts) {
  let s = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x0, y0] = pts[i];
    const [x1, y1] = pts[(i + 1) % pts.length];
    s += x0 * y1 - x1 * y0;
  }
  return s / 2;
}

function clampInt(v, lo, hi) {
  return Math.min(Math.max(v, lo), hi);
}
