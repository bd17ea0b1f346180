// Page wiring: a dropped or chosen file, or a camera frame, goes through BrowserOCR; boxes are drawn
// over the image and the lines listed beside it. `window.ocrforge` exposes the reader so the
// end-to-end test (and a curious user in the console) can call it directly.
import { BrowserOCR, loadOpenCv } from "./ocr.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const view = $("view");
const list = $("lines");

function setState(state, message) {
  document.body.dataset.state = state;
  status.textContent = message;
}

/** Decodes an image file without colour management, so pixels are the file's own (as cv2.imread sees them). */
async function decode(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  return bitmapToImageData(bitmap);
}

function bitmapToImageData(source, width = source.width, height = source.height) {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true, colorSpace: "srgb" });
  ctx.drawImage(source, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height, { colorSpace: "srgb" });
}

function show(imageData, result) {
  view.width = imageData.width;
  view.height = imageData.height;
  const ctx = view.getContext("2d");
  ctx.putImageData(imageData, 0, 0);
  ctx.lineWidth = Math.max(1, Math.round(imageData.width / 600));
  ctx.strokeStyle = "rgba(220, 30, 60, 0.9)";
  list.replaceChildren();
  for (const line of result.lines) {
    ctx.beginPath();
    line.polygon.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.stroke();
    const li = document.createElement("li");
    li.textContent = line.text;
    li.title = `confidence ${line.confidence.toFixed(3)}`;
    list.append(li);
  }
}

// Everything starts at once: OpenCV.js (a classic async script, already downloading), the models
// and ONNX Runtime. An image handed over before they are ready is read as soon as they are.
const threads = parseInt(new URLSearchParams(location.search).get("threads") || "0", 10) || 0; // ?threads=N: benchmarks
let startFailed = false;
const opencv = loadOpenCv(window).then((r) => (performance.mark("ocrforge:opencv-ready"), r));
const ready = BrowserOCR.create(opencv, new URL(".", document.baseURI), { threads }).then(
  (ocr) => {
    performance.mark("ocrforge:ready");
    return ocr;
  },
  (err) => {
    startFailed = true;
    setState("error", `Could not start: ${err.message}`);
    console.error(err);
    throw err;
  },
);

let busy = Promise.resolve();
async function readImageData(imageData) {
  // One read at a time: the WebAssembly sessions are not re-entrant.
  if (document.body.dataset.state === "loading") status.textContent = "Loading models… the image is read as soon as they are in.";
  const run = busy.then(async () => {
    const ocr = await ready;
    setState("busy", "Reading…");
    const result = await ocr.read(imageData);
    show(imageData, result);
    window.ocrforge.lastResult = result;
    if (!window.ocrforge.firstTextMs) window.ocrforge.firstTextMs = performance.now();
    const notes = [
      result.rotation ? "the page was upside down and has been turned" : "",
      result.inverted ? "light text on a dark ground, read inverted" : "",
      result.upscale > 1 ? `small text, enlarged ${result.upscale.toFixed(1)}×` : "",
    ].filter(Boolean);
    const said = notes.length ? ` (${notes.join("; ")})` : "";
    setState("done", `${result.lines.length} lines in ${Math.round(result.timings.totalMs)} ms${said}`);
    return result;
  });
  busy = run.catch(() => {});
  try {
    return await run;
  } catch (err) {
    if (!startFailed) setState("error", `Could not read the image: ${err.message}`);
    throw err;
  }
}

async function readBlob(blob) {
  let imageData;
  try {
    imageData = await decode(blob);
  } catch (err) {
    setState("error", "This file is not an image the browser can decode.");
    throw err;
  }
  return readImageData(imageData);
}

/** Start-up milestones in ms since navigation start (the page's performance marks). */
function startup() {
  return Object.fromEntries(
    performance.getEntriesByType("mark").filter((m) => m.name.startsWith("ocrforge:")).map((m) => [m.name.slice(9), m.startTime]),
  );
}

// firstTextMs: ms from navigation start to the first read's text on screen.
window.ocrforge = { ready, readBlob, readImageData, startup, lastResult: null, firstTextMs: null };

function main() {
  $("file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) readBlob(file).catch((err) => console.warn(err));
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = [...e.dataTransfer.files].find((f) => f.type.startsWith("image/"));
    if (file) readBlob(file).catch((err) => console.warn(err));
    else setState("error", "Drop an image file (PNG, JPEG, WebP…).");
  });
  wireCamera(readImageData);
  ready.then(
    (ocr) => {
      window.ocrforge.ocr = ocr;
      if (document.body.dataset.state === "loading") setState("ready", "Ready: drop an image, choose a file or use the camera.");
    },
    () => {},
  );
}

function wireCamera(readImageData) {
  const video = $("video");
  const panel = $("camera");
  let stream = null;
  $("camera-start").addEventListener("click", async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 1920 } } });
    } catch (err) {
      setState("error", `No camera: ${err.message}`);
      return;
    }
    video.srcObject = stream;
    await video.play();
    panel.hidden = false;
  });
  $("camera-shot").addEventListener("click", () => {
    if (!stream) return;
    readImageData(bitmapToImageData(video, video.videoWidth, video.videoHeight)).catch((err) => console.warn(err));
  });
  $("camera-stop").addEventListener("click", () => {
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
    panel.hidden = true;
  });
}

main();
