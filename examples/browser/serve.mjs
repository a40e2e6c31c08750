#!/usr/bin/env node
// Serves the built demos (examples/browser/dist/) on localhost with the two headers that make a
// page cross-origin isolated, so that xent's engine can run Web Worker threads:
//   Cross-Origin-Opener-Policy: same-origin
//   Cross-Origin-Embedder-Policy: require-corp
// The checkpoint folder is served under /checkpoint/ for the surprisal demo, a model folder
// (config.json, tokenizer.json, onnx/model.onnx) under /model/ and onnxruntime-web's files under
// /ort/ for the model demo.
// Usage (from the repository root, after npm run demo:build):
//   node examples/browser/serve.mjs [--port 8080] [--checkpoint runs/latest/checkpoint] [--model fixtures/tiny-gpt2-onnx] [--no-isolation]
// --port 0 takes any free port; --no-isolation leaves the headers out (the engine then runs on 1 thread).
import { createReadStream, existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const USAGE = "usage: node examples/browser/serve.mjs [--port N] [--host H] [--checkpoint DIR] [--model DIR] [--no-isolation]";
const args = process.argv.slice(2);
const opts = { port: 8080, host: "127.0.0.1", checkpoint: "runs/latest/checkpoint", model: "fixtures/tiny-gpt2-onnx", isolation: true };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    const v = args[++i];
    if (v === undefined) fail(`${a} needs a value`);
    return v;
  };
  if (a === "--port") {
    opts.port = Number(value());
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) fail(`--port is "${args[i]}"; expected an integer in [0, 65535]`);
  } else if (a === "--host") opts.host = value();
  else if (a === "--checkpoint") opts.checkpoint = value();
  else if (a === "--model") opts.model = value();
  else if (a === "--no-isolation") opts.isolation = false;
  else fail(`unknown argument "${a}"`);
}

function fail(message) {
  console.error(`serve: ${message}\n${USAGE}`);
  process.exit(2);
}

const site = join(dirname(fileURLToPath(import.meta.url)), "dist");
if (!existsSync(join(site, "index.html"))) fail(`${site} has no index.html; run npm run demo:build first`);
const checkpoint = resolve(opts.checkpoint);
const model = resolve(opts.model);
/** onnxruntime-web's dist/ (its ES module and .wasm files), or null where the package is not installed. */
const ort = (() => {
  try {
    return dirname(createRequire(import.meta.url).resolve("onnxruntime-web"));
  } catch {
    return null;
  }
})();
/** URL prefix -> the folder it serves. */
const mounts = [
  ["/checkpoint/", checkpoint],
  ["/model/", model],
  ["/ort/", ort],
];

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".bin": "application/octet-stream",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};
const isolation = opts.isolation ? { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" } : {};

/** The file a URL path names, inside `root` (never above it), or null. */
function inside(root, path) {
  const file = normalize(join(root, path));
  return file === root || file.startsWith(root + sep) ? file : null;
}

const server = createServer((req, res) => {
  let path;
  try {
    path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
  } catch {
    path = "";
  }
  if (path.endsWith("/")) path += "index.html";
  const mount = mounts.find(([prefix]) => path.startsWith(prefix));
  const file = mount === undefined ? inside(site, path) : mount[1] === null ? null : inside(mount[1], path.slice(mount[0].length - 1));
  const found = file !== null && (req.method === "GET" || req.method === "HEAD") && existsSync(file) && statSync(file).isFile();
  if (!found) {
    res.writeHead(404, { ...isolation, "Content-Type": "text/plain; charset=utf-8" });
    res.end(`not found: ${path}\n`);
    return;
  }
  res.writeHead(200, {
    ...isolation,
    "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
    "Content-Length": statSync(file).size,
    "Cache-Control": "no-store",
  });
  if (req.method === "HEAD") res.end();
  else createReadStream(file).pipe(res);
});
server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  const ck = existsSync(join(checkpoint, "config.json")) ? checkpoint : `${checkpoint} (missing: run npm start to train one)`;
  const md = existsSync(join(model, "config.json")) ? model : `${model} (missing: no config.json)`;
  console.log(`demo: http://${opts.host}:${port}/ (${opts.isolation ? "cross-origin isolated" : "not cross-origin isolated"}; checkpoint ${ck}; model ${md}${ort === null ? "; onnxruntime-web is not installed" : ""})`);
});
