// Graph optimization ahead of time, so the page does not pay for it at start-up.
//
// Creating an ONNX Runtime session optimizes the graph first: for the INT8 detector that means
// folding ~270 DequantizeLinear/QuantizeLinear pairs into QLinearConv & co. In onnxruntime-web that
// work runs in WebAssembly on the page's main thread and was the largest single part of a cold start
// (measured in node with onnxruntime-web 1.30, one thread, CPU time: detector session 490-870 ms with
// "all" vs ~230 ms for the pre-optimized graph with optimizations off). So the build lets the
// Python onnxruntime write the graph at ORT_ENABLE_EXTENDED (fusions that are the same on every CPU;
// "all" would add x86-only NCHWc layouts the WebAssembly build cannot run), and the page loads that
// file with graphOptimizationLevel "disabled".
//
// The result must not change a single number: before a pre-optimized file is used, onnxruntime-web
// (the runtime the page uses) runs the original with "all" and the pre-optimized file with
// "disabled" on the same probe input, and every output must be bit-identical. If Python's
// onnxruntime is missing, fails, or anything differs, the original file is shipped and the page
// optimizes it itself as before. OCRFORGE_WEB_PREOPTIMIZE=0 turns the step off.
import { copyFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { spawnSync } from "node:child_process";

const OPTIMIZE = `
import sys
import onnxruntime as ort
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
so.intra_op_num_threads = 1
so.optimized_model_filepath = sys.argv[2]
ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
print(ort.__version__)
`;

/** Deterministic values in [-1, 1) (a small LCG), so a probe run is the same on every build. */
function probeData(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function sameBits(a, b) {
  if (a.type !== b.type || a.dims.join() !== b.dims.join() || a.data.length !== b.data.length) return false;
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Why `optimized` cannot stand in for `original` in onnxruntime-web, or null when it can. */
async function differs(original, optimized, probeShape) {
  const ort = await import("onnxruntime-web/wasm");
  ort.env.wasm.numThreads = 1;
  const a = await ort.InferenceSession.create(new Uint8Array(readFileSync(original)), { graphOptimizationLevel: "all" });
  const b = await ort.InferenceSession.create(new Uint8Array(readFileSync(optimized)), { graphOptimizationLevel: "disabled" });
  try {
    if (a.inputNames.join() !== b.inputNames.join() || a.outputNames.join() !== b.outputNames.join()) return "inputs/outputs differ";
    const size = probeShape.reduce((p, d) => p * d, 1);
    const feeds = { [a.inputNames[0]]: new ort.Tensor("float32", probeData(size, 20241124), probeShape) };
    const [ra, rb] = [await a.run(feeds), await b.run(feeds)];
    for (const name of a.outputNames) if (!sameBits(ra[name], rb[name])) return `output ${name} differs`;
    return null;
  } finally {
    await a.release();
    await b.release();
  }
}

/**
 * Puts `src` (or its pre-optimized twin) into `outDir`.
 * @param {string} src the .onnx file
 * @param {string} outDir where the page's models go
 * @param {number[]} probeShape an input shape the model accepts (for the bit-identity check)
 * @returns {Promise<{file: string, graphOptimizationLevel: string, note: string}>} what the page loads and how
 */
export async function prepareModel(src, outDir, probeShape) {
  const original = { file: basename(src), graphOptimizationLevel: "all" };
  const copyOriginal = (note) => {
    copyFileSync(src, join(outDir, original.file));
    return { ...original, note };
  };
  if (process.env.OCRFORGE_WEB_PREOPTIMIZE === "0") return copyOriginal("pre-optimization off");
  const file = basename(src).replace(/\.onnx$/, "") + ".web.onnx";
  const out = join(outDir, file);
  const python = process.env.OCRFORGE_PYTHON || "python3";
  const run = spawnSync(python, ["-c", OPTIMIZE, src, out], { encoding: "utf-8" });
  if (run.status !== 0 || !existsSync(out)) {
    rmSync(out, { force: true });
    return copyOriginal(`not pre-optimized (Python onnxruntime: ${(run.stderr || run.error?.message || "").trim().split("\n").pop()})`);
  }
  let why;
  try {
    why = await differs(src, out, probeShape);
  } catch (err) {
    why = err.message;
  }
  if (why) {
    rmSync(out, { force: true });
    return copyOriginal(`not pre-optimized (${why})`);
  }
  return { file, graphOptimizationLevel: "disabled", note: `pre-optimized by onnxruntime ${run.stdout.trim()}, bit-identical in onnxruntime-web` };
}
