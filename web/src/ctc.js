// Greedy (best-path) CTC decoding, as ocrforge/postprocess/ctc.py: argmax per frame, merge repeats,
// drop blanks (class 0). Confidence: geometric mean of the kept characters' peak probabilities
// times the mean peak probability of blank frames.

export const SPACE_TOKEN = "<space>";

/** charset_vN.txt -> characters in class order (class i is chars[i - 1]; class 0 is the blank). */
export function parseCharset(text) {
  return text.split("\n").filter((ln) => ln.length > 0).map((ln) => (ln === SPACE_TOKEN ? " " : ln));
}

/**
 * @param {Float32Array} probs (T, C) row-major per-frame softmax
 * @returns {{text: string, confidence: number, charFrames: number[], charScores: number[]}}
 */
export function greedyDecode(probs, T, C, chars) {
  if (T === 0) return { text: "", confidence: 0, charFrames: [], charScores: [] };
  const best = new Int32Array(T);
  const peak = new Float32Array(T);
  for (let t = 0; t < T; t++) {
    let arg = 0;
    let max = probs[t * C];
    for (let c = 1; c < C; c++) {
      const v = probs[t * C + c];
      if (v > max) {
        max = v;
        arg = c;
      }
    }
    best[t] = arg;
    peak[t] = max;
  }
  const text = [];
  const frames = [];
  const scores = [];
  let blankSum = 0;
  let blankCount = 0;
  for (let t = 0; t < T; ) {
    const c = best[t];
    let end = t;
    while (end + 1 < T && best[end + 1] === c) end++;
    if (c !== 0) {
      let k = t;
      for (let u = t + 1; u <= end; u++) if (peak[u] > peak[k]) k = u;
      frames.push(k);
      scores.push(peak[k]);
      text.push(chars[c - 1] ?? "");
    } else {
      for (let u = t; u <= end; u++) blankSum += peak[u];
      blankCount += end - t + 1;
    }
    t = end + 1;
  }
  const blankConf = blankCount ? blankSum / blankCount : 1;
  if (scores.length === 0) return { text: "", confidence: blankConf, charFrames: [], charScores: [] };
  const meanLog = scores.reduce((s, p) => s + Math.log(Math.max(p, 1e-9)), 0) / scores.length;
  return { text: text.join(""), confidence: Math.exp(meanLog) * blankConf, charFrames: frames, charScores: scores };
}
