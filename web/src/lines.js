// Line crops for the recognizer, as ocrforge/recognition/preprocess.py prepares them: a rectified
// crop of each detected quadrilateral, gray, height 32 with the aspect kept, right-padded by
// replicating the last column to a multiple of 4, scaled to [-1, 1].

export const MIN_WIDTH = 16;
export const MAX_WIDTH = 2048;
export const WIDTH_MULTIPLE = 4;

/** Python's round(): halves go to the even neighbour (JS Math.round sends them up). */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Perspective-warps the quadrilateral (TL, TR, BR, BL) to an upright rectangle; a tall crop is turned. */
export function cropLine(cv, bgr, quad) {
  const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
  const w = Math.max(1, Math.trunc(Math.max(dist(quad[0], quad[1]), dist(quad[2], quad[3]))));
  const h = Math.max(1, Math.trunc(Math.max(dist(quad[0], quad[3]), dist(quad[1], quad[2]))));
  const src = cv.matFromArray(4, 1, cv.CV_32FC2, quad.flat());
  const dst = cv.matFromArray(4, 1, cv.CV_32FC2, [0, 0, w, 0, w, h, 0, h]);
  const M = cv.getPerspectiveTransform(src, dst);
  const out = new cv.Mat();
  cv.warpPerspective(bgr, out, M, new cv.Size(w, h), cv.INTER_CUBIC, cv.BORDER_REPLICATE, new cv.Scalar());
  src.delete();
  dst.delete();
  M.delete();
  if (h / w >= 1.5) {
    // A vertical line of text: read it top to bottom.
    const turned = new cv.Mat();
    cv.rotate(out, turned, cv.ROTATE_90_COUNTERCLOCKWISE);
    out.delete();
    return turned;
  }
  return out;
}

/** Gray line at `height` px, width by aspect ratio clamped to [MIN_WIDTH, MAX_WIDTH]. */
export function resizeLine(cv, bgr, height = 32) {
  const gray = new cv.Mat();
  if (bgr.channels() === 1) bgr.copyTo(gray);
  else cv.cvtColor(bgr, gray, cv.COLOR_BGR2GRAY);
  const h = gray.rows;
  const w = gray.cols;
  const newW = Math.min(Math.max(roundHalfEven((w * height) / h), MIN_WIDTH), MAX_WIDTH);
  const out = new cv.Mat();
  cv.resize(gray, out, new cv.Size(newW, height), 0, 0, h > height ? cv.INTER_AREA : cv.INTER_LINEAR);
  gray.delete();
  return out;
}

const SCALE = Math.fround(2 / 255);

/** Stacks gray lines (cv.Mat CV_8UC1, same height) into float32 (N, 1, H, Wmax) in [-1, 1]. */
export function prepareLineBatch(lines, height = 32) {
  const widest = Math.max(...lines.map((m) => m.cols));
  const width = Math.ceil(widest / WIDTH_MULTIPLE) * WIDTH_MULTIPLE;
  const data = new Float32Array(lines.length * height * width);
  lines.forEach((m, n) => {
    const src = m.data;
    const w = m.cols;
    for (let y = 0; y < height; y++) {
      const row = (n * height + y) * width;
      for (let x = 0; x < width; x++) {
        const v = src[y * w + Math.min(x, w - 1)];
        // Float32 steps in the order numpy takes them (x * (2/255), then - 1) for bit-equal inputs.
        data[row + x] = Math.fround(Math.fround(v * SCALE) - 1);
      }
    }
  });
  return { data, width };
}
