// Calibrated line confidence, as ocrforge.postprocess.calibration.ReadingCalibration.line does it for
// the greedy decoder: the recognizer's .calib.json holds isotonic maps (knots x -> y, linear between,
// flat beyond the ends like numpy.interp) for lines with >= min_cjk_chars CJK characters ("cjk"), for
// those with >= long_cjk_chars of them when the file sets it ("cjk_long"), and for the others ("other").
// A line's confidence then reads as the chance it is read exactly right. The file's line_scores says
// what the greedy maps read: the raw confidence, or ("weakest_char") that confidence with its geometric
// mean of character peaks replaced by the weakest peak (ocrforge.postprocess.calibration.LINE_SCORES).

// ocrforge.document._HAN_RANGES and _CJK_PUNCT_RANGES
const CJK_RANGES = [
  [0x2e80, 0x2fdf], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xf900, 0xfaff], [0x20000, 0x323af],
  [0x3000, 0x303f], [0xfe30, 0xfe4f], [0xff00, 0xffef],
];

export function isCjkChar(ch) {
  const cp = ch.codePointAt(0);
  return CJK_RANGES.some(([lo, hi]) => lo <= cp && cp <= hi);
}

/** numpy.interp(v, xs, ys) for increasing xs. */
export function interp(v, xs, ys) {
  if (v <= xs[0]) return ys[0];
  const n = xs.length;
  if (v >= xs[n - 1]) return ys[n - 1];
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= v) lo = mid;
    else hi = mid;
  }
  const t = (v - xs[lo]) / (xs[hi] - xs[lo]);
  return ys[lo] + t * (ys[hi] - ys[lo]);
}

/** LINE_SCORES of ocrforge.postprocess.calibration: (raw, charScores) -> what a line map reads. */
export const LINE_SCORES = {
  decoder: (raw) => raw,
  weakest_char: (raw, charScores) => {
    if (!charScores || charScores.length === 0) return raw;
    let min = Infinity;
    let sumLog = 0;
    for (const p of charScores) {
      const q = Math.max(p, 1e-9);
      min = Math.min(min, q);
      sumLog += Math.log(q);
    }
    return (raw * min) / Math.exp(sumLog / charScores.length);
  },
};

/**
 * (text, raw greedy confidence, character peak scores) -> calibrated confidence, from a parsed
 * .calib.json; null when the file has no isotonic greedy line maps or names a line score this page
 * does not know (the page then shows raw scores, as Python does without a file).
 */
export function lineCalibration(calib) {
  const maps = calib?.decoders?.greedy?.line;
  const usable = (m) => m && m.method === "isotonic" && Array.isArray(m.x) && m.x.length > 0 && m.x.length === m.y?.length;
  if (!maps || !usable(maps.cjk) || !usable(maps.other)) return null;
  const minCjk = Number(calib.min_cjk_chars ?? 3);
  // a file without the long group (or without its threshold) reads every Chinese line with "cjk"
  const longCjk = calib.long_cjk_chars == null ? Infinity : Number(calib.long_cjk_chars);
  if (Number.isFinite(longCjk) && !usable(maps.cjk_long)) return null;
  const scoreName = calib.line_scores?.greedy ?? "decoder"; // files before session 13 have no line_scores
  if (!Object.hasOwn(LINE_SCORES, scoreName)) return null;
  const score = LINE_SCORES[scoreName];
  return (text, raw, charScores = []) => {
    let cjk = 0;
    for (const ch of text) if (isCjkChar(ch)) cjk += 1;
    const m = cjk < minCjk ? maps.other : cjk >= longCjk ? maps.cjk_long : maps.cjk;
    return interp(score(raw, charScores), m.x, m.y);
  };
}
