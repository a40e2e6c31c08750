#!/usr/bin/env node
// Browser smoke check of the wasm engine (not part of npm test): bundles src/index.ts with esbuild,
// serves it with COOP/COEP headers (cross-origin isolation, so SharedArrayBuffer and threads work),
// opens it in headless Chromium, and has the page run the sync wasm backend and a 2-thread engine
// (Web Workers from a Blob URL over shared memory) against the js backend. The page POSTs its
// verdict back; exits 0 when it passed.
// Usage: node scripts/browser-smoke.mjs [path-to-chromium]
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { build } from "esbuild";
import { clearTimeout, setTimeout } from "node:timers";

const chromium = process.argv[2] ?? "/usr/bin/chromium";
const bundle = await build({ entryPoints: ["src/index.ts"], bundle: true, format: "esm", platform: "browser", write: false, logLevel: "error" });
const js = bundle.outputFiles[0].text;
const page = `<!doctype html><script type="module">
import { createEngine, crossEntropy, init, wasmFeatures } from "./xent.js";
const report = (o) => fetch("/result", { method: "POST", body: JSON.stringify(o) });
try {
  const f = wasmFeatures();
  const ok = await init();
  const n = 37, v = 1001;
  const x = new Float32Array(n * v).map((_, i) => Math.sin(i * 0.618) * 4);
  const t = Array.from({ length: n }, (_, i) => (i * 7919) % v);
  const want = crossEntropy(x, t, { classes: v, grad: true, backend: "js" });
  const sync = crossEntropy(x, t, { classes: v, grad: true, backend: "wasm" });
  const e = await createEngine({ threads: 2 });
  const buf = e.alloc(n * v); buf.set(x);
  const eng = await e.crossEntropy(buf, t, { classes: v, grad: true });
  let maxErr = 0;
  for (let i = 0; i < n * v; i++) maxErr = Math.max(maxErr, Math.abs(eng.grad[i] - want.grad[i]), Math.abs(sync.grad[i] - want.grad[i]));
  const res = { features: f, init: ok, threads: e.threads, isolated: crossOriginIsolated, lossJs: want.loss, lossSync: sync.loss, lossEngine: eng.loss, maxGradErr: maxErr };
  res.pass = ok && e.threads === 2 && Math.abs(eng.loss - want.loss) < 1e-5 && Math.abs(sync.loss - want.loss) < 1e-5 && maxErr < 1e-6;
  e.dispose();
  await report(res);
} catch (err) { await report({ pass: false, error: String(err && err.stack || err) }); }
</script>`;
const headers = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };
let browser;
const done = new Promise((resolve) => {
  const server = createServer((req, res) => {
    if (req.method === "POST") {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        res.end("ok");
        server.close();
        resolve(JSON.parse(body));
      });
      return;
    }
    const isJs = req.url === "/xent.js";
    res.writeHead(200, { ...headers, "Content-Type": isJs ? "text/javascript" : "text/html" });
    res.end(isJs ? js : page);
  }).listen(0, "127.0.0.1", () => {
    const url = `http://127.0.0.1:${server.address().port}/`;
    browser = spawn(chromium, ["--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0", url], { stdio: "ignore" });
  });
});
const timer = setTimeout(() => {
  console.error("browser-smoke: no result within 60 s");
  browser?.kill();
  process.exit(1);
}, 60000);
const result = await done;
clearTimeout(timer);
browser?.kill();
console.log(JSON.stringify(result, null, 2));
process.exit(result.pass ? 0 : 1);
