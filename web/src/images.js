// Small numeric and image helpers shared by the page steps, the detector input and the line crops,
// computed as their Python twins are (ocrforge/io/images.py shrink, numpy.percentile).

/**
 * io.images.shrink: `image` reduced by `scale` (< 1) to width x height: an integer-factor INTER_AREA
 * pass (its fast path) for big reductions, then INTER_LINEAR for the rest. Returns a new Mat.
 */
export function shrink(cv, image, width, height, scale) {
  let source = image;
  const factor = Math.trunc(1 / scale);
  if (factor >= 2) {
    source = new cv.Mat();
    cv.resize(image, source, new cv.Size(Math.floor(image.cols / factor), Math.floor(image.rows / factor)), 0, 0, cv.INTER_AREA);
  }
  const out = new cv.Mat();
  // (cv.resize to the same size is a plain copy, as Python's shrink skipping it)
  cv.resize(source, out, new cv.Size(width, height), 0, 0, cv.INTER_LINEAR);
  if (source !== image) source.delete();
  return out;
}

/**
 * numpy.percentile's default (linear between the two nearest ranks) of `n` values whose k-th smallest
 * is `at(k)`; interpolated as numpy's `_lerp` does (from the nearer rank), so the result is numpy's to the bit.
 */
export function percentile(at, n, q) {
  const index = (q / 100) * (n - 1);
  const lo = Math.floor(index);
  const t = index - lo;
  const a = at(lo);
  const b = at(Math.min(lo + 1, n - 1));
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}
