// OpenCV.js as a small script plus a .wasm file the browser compiles while it downloads.
//
// @techstark/opencv-js ships one 13 MB script with its WebAssembly inside as a string literal. On a
// cold page the browser must download and parse all of it, decode the string byte by byte on the
// main thread (binaryDecode) and only then compile the module from memory. Measured in headless
// Chromium on the shared 2-core machine: ready 0.96-1.29 s after navigation (median 1.17 s) as
// shipped, 0.40-1.04 s (median 0.54 s) split like this. The OpenCV code is unchanged, so every
// routine gives the same pixels as before.
//
// The split: the literal is decoded here (the same bytes binaryDecode makes), written to
// opencv.wasm, and replaced by ''; the UMD wrapper's empty Module gets Emscripten's
// `instantiateWasm` hook, which streams opencv.wasm from next to the script. If the file's layout is
// not the one expected, nothing is split and the script is shipped whole.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runInNewContext } from "node:vm";

const LITERAL_BEFORE = "function findWasmBinary(){return binaryDecode(";
const LITERAL_AFTER = ")}";
const MODULE_DECL = "if (typeof Module === 'undefined')\n    var Module = {};";

// Runs inside the UMD factory, while the script executes (document.currentScript is set then).
// A failure is left on globalThis.cvLoadError for loadOpenCv (Emscripten offers the hook no reject).
const HOOK = `var Module = (function () {
      var base = (typeof document !== "undefined" && document.currentScript && document.currentScript.src) || globalThis.location.href;
      var url = new URL("opencv.wasm", base).href;
      return {
        instantiateWasm: function (imports, receive) {
          var bytes = function () {
            return fetch(url, { credentials: "same-origin" }).then(function (r) {
              if (!r.ok) throw new Error("cannot fetch " + url + ": HTTP " + r.status);
              return r.arrayBuffer();
            }).then(function (b) { return WebAssembly.instantiate(b, imports); });
          };
          // Streaming needs the application/wasm type; a server that sends another gets the plain path.
          var start = WebAssembly.instantiateStreaming
            ? WebAssembly.instantiateStreaming(fetch(url, { credentials: "same-origin" }), imports).catch(bytes)
            : bytes();
          start.then(function (r) { receive(r.instance, r.module); }, function (e) { globalThis.cvLoadError = e; });
          return {};
        },
      };
    })();`;

/**
 * Writes opencv.js (and opencv.wasm when the split works) into outDir.
 * @returns {{split: boolean, note: string}}
 */
export function writeOpenCv(srcPath, outDir) {
  const src = readFileSync(srcPath, "utf-8");
  const whole = (why) => {
    writeFileSync(join(outDir, "opencv.js"), src);
    return { split: false, note: `shipped whole (${why})` };
  };
  const start = src.indexOf(LITERAL_BEFORE);
  if (start < 0 || src.indexOf(LITERAL_BEFORE, start + 1) >= 0) return whole("embedded module not found once");
  const from = start + LITERAL_BEFORE.length;
  const quote = src[from];
  const to = src.indexOf(quote + LITERAL_AFTER, from + 1) + 1;
  if ((quote !== "'" && quote !== '"') || to <= from) return whole("embedded module is not a string literal");
  const moduleAt = src.indexOf(MODULE_DECL);
  if (moduleAt < 0 || src.indexOf(MODULE_DECL, moduleAt + 1) >= 0) return whole("UMD Module declaration not found once");
  // The literal is plain JavaScript (escapes and all); evaluating it alone gives the exact string.
  const text = runInNewContext(src.slice(from, to));
  const wasm = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    wasm[i] = (~c >> 8) & c; // binaryDecode's own formula
  }
  if (!WebAssembly.validate(wasm)) return whole("embedded module does not validate");
  let js = src.slice(0, from) + "''" + src.slice(to);
  js = js.replace(MODULE_DECL, HOOK);
  writeFileSync(join(outDir, "opencv.wasm"), wasm);
  writeFileSync(join(outDir, "opencv.js"), js);
  return { split: true, note: `split: opencv.js ${(js.length / 1024).toFixed(0)} KB + opencv.wasm ${(wasm.length / 1048576).toFixed(1)} MB` };
}
