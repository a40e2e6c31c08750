/**
 * The browser demos (examples/browser) in headless Chromium, as a reader gets them: built with
 * examples/browser/build.mjs, served by examples/browser/serve.mjs (cross-origin isolated, and
 * once without the headers). The explainer's figures must equal `xent loss --json`'s, and the
 * surprisal demo's per-token losses and colours those of the trainer's `score` for the same text
 * and checkpoint (a tiny model trained here for a few steps).
 *
 * DEMO_CHECKPOINT=dir uses that checkpoint instead of training one; DEMO_SCREENSHOTS=dir keeps
 * the screenshots there (docs/img/ for the pictures in docs/browser.md).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { assertClose } from "../helpers/close.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const XENT = join(ROOT, "src/cli/main.ts");
/** The trainer's command (`train`, `score`): its own package once moved there, else the xent CLI. */
const TRAINER = [join(ROOT, "examples/tiny-gpt/src/main.ts"), XENT].find((f) => existsSync(f))!;

let dir: string;
let shots: string;
let checkpoint: string;
let browser: Browser;
const servers: ChildProcess[] = [];

function run(main: string, args: string[]): string {
  const r = spawnSync(process.execPath, ["--import", "tsx", main, ...args], { cwd: ROOT, encoding: "utf8", timeout: 180_000 });
  assert.equal(r.status, 0, `${main} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** Start serve.mjs; resolves to its URL. */
function serve(...args: string[]): Promise<string> {
  const p = spawn(process.execPath, [join(ROOT, "examples/browser/serve.mjs"), "--port", "0", "--checkpoint", checkpoint, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  servers.push(p);
  let err = "";
  p.stderr!.on("data", (d: Buffer) => (err += String(d)));
  return new Promise((resolve, reject) => {
    p.stdout!.on("data", (d: Buffer) => {
      const m = /http:\/\/\S+\//.exec(String(d));
      if (m !== null) resolve(m[0]);
    });
    p.on("exit", (code) => reject(new Error(`serve.mjs exited with ${code}: ${err}`)));
  });
}

async function open(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready !== undefined, undefined, { timeout: 30_000 });
  assert.deepEqual(errors, [], "errors on the page");
  assert.equal(await page.evaluate(() => document.body.dataset.ready), "true");
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  const png = join(shots, name);
  await page.screenshot({ path: png, fullPage: true });
  const bytes = readFileSync(png);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
  assert.ok(statSync(png).size > 10_000, `${name} should not be blank`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "xent-demos-"));
  shots = process.env.DEMO_SCREENSHOTS ?? dir;
  mkdirSync(shots, { recursive: true });
  const built = spawnSync(process.execPath, [join(ROOT, "examples/browser/build.mjs")], { cwd: ROOT, encoding: "utf8" });
  assert.equal(built.status, 0, built.stderr);
  checkpoint = process.env.DEMO_CHECKPOINT ?? join(dir, "run/checkpoint");
  if (process.env.DEMO_CHECKPOINT === undefined) {
    const corpus = join(dir, "corpus.txt");
    writeFileSync(corpus, "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat.\n".repeat(20));
    run(TRAINER, ["train", "--size", "tiny", "--steps", "30", "--eval-every", "30", "--corpus", corpus, "--out", join(dir, "run"), "--no-progress"]);
  }
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
});

after(async () => {
  await browser?.close();
  for (const s of servers) s.kill();
  rmSync(dir, { recursive: true, force: true });
});

interface Figures {
  logits: number[];
  probs: number[];
  grad: number[];
  nats: number;
  shown: { loss: string; bits: string; p: string[]; grad: string[] };
}

// (no named functions inside evaluate: tsx's helpers for them do not exist in the page)
const readFigures = (page: Page): Promise<Figures> =>
  page.evaluate(() => {
    const rows = Array.from(document.querySelectorAll<HTMLTableRowElement>("#tokens tbody tr"));
    const loss = document.getElementById("loss")!;
    return {
      logits: rows.map((r) => Number(r.dataset.logit)),
      probs: rows.map((r) => Number(r.dataset.p)),
      grad: rows.map((r) => Number(r.dataset.grad)),
      nats: Number(loss.dataset.nats),
      shown: {
        loss: loss.textContent ?? "",
        bits: document.getElementById("loss-bits")!.textContent ?? "",
        p: rows.map((r) => r.cells[3]!.textContent ?? ""),
        grad: rows.map((r) => r.cells[4]!.textContent ?? ""),
      },
    };
  });

/** The page's figures against `xent loss --logits … --json` with the same target and options. */
function assertLikeCli(f: Figures, target: number, flags: string[] = []): void {
  const cli = JSON.parse(run(XENT, ["loss", `--logits=${f.logits.join(",")}`, "--target", String(target), "--json", ...flags])) as { nats: number; probs: number[]; grad: number[] };
  const exact = { atol: 0, rtol: 1e-15 };
  assertClose(f.nats, cli.nats, exact, "loss");
  assertClose(f.probs, cli.probs, exact, "probabilities");
  assertClose(f.grad, cli.grad, exact, "gradient");
  assert.equal(f.shown.loss, cli.nats.toFixed(3));
  assert.equal(f.shown.bits, `(${(cli.nats / Math.LN2).toFixed(3)} bits)`);
  assert.deepEqual(f.shown.p, cli.probs.map((p) => p.toFixed(3)));
  assert.deepEqual(
    f.shown.grad.map((s) => Number(s.replace("−", "-"))),
    cli.grad.map((g) => Number(g.toFixed(3))),
  );
}

describe("the loss explainer", () => {
  let page: Page;
  before(async () => {
    page = await open(`${await serve()}explainer.html`);
  });
  after(() => page?.close());

  it("opens on the worked example, p = 0.7 on the correct token: 0.357 nats, as xent loss says", async () => {
    const f = await readFigures(page);
    assert.equal(f.shown.loss, "0.357");
    assert.equal(f.shown.p[0], "0.700");
    assertLikeCli(f, 0);
    await shot(page, "explainer.png");
  });

  it("p = 0.9 gives 0.105 nats", async () => {
    await page.getByRole("button", { name: "p = 0.9" }).click();
    const f = await readFigures(page);
    assert.equal(f.shown.loss, "0.105");
    assertLikeCli(f, 0);
  });

  it("moves with the keyboard, another correct token and the options, still equal to xent loss", async () => {
    await page.getByRole("button", { name: "p = 0.7 on the correct token" }).click();
    const before = await readFigures(page);
    await page.getByLabel("logit of dog").focus();
    for (let i = 0; i < 25; i++) await page.keyboard.press("ArrowRight");
    await page.getByLabel("hat is the correct token").check();
    await page.locator("#smoothing").fill("0.1");
    await page.locator("#zloss").fill("0.01");
    const f = await readFigures(page);
    assert.ok(Math.abs(f.logits[1]! - before.logits[1]! - 0.25) < 0.011, `the dog logit moved from ${before.logits[1]} to ${f.logits[1]}`);
    assertLikeCli(f, 2, ["--label-smoothing", "0.1", "--z-loss", "0.01"]);
  });
});

describe("the live surprisal demo", () => {
  const text = "the dog sat on a log. the cat met a dog on the mat, and a cat sat.";
  let isolated: { engine: string; nats: number[]; colours: string[]; pieces: string[] };

  async function typeAndRead(page: Page): Promise<typeof isolated> {
    await page.locator("#input").fill(text.slice(0, 30));
    await page.locator("#input").press("End");
    await page.keyboard.type(text.slice(30)); // scored as it is typed
    await page.waitForFunction((t) => document.getElementById("text")!.dataset.scored === t, text, { timeout: 30_000 });
    return page.evaluate(() => {
      const spans = Array.from(document.querySelectorAll<HTMLElement>("#text .t"));
      return {
        engine: document.body.dataset.engine ?? "",
        nats: spans.map((s) => (s.dataset.nats === undefined ? NaN : Number(s.dataset.nats))),
        colours: spans.map((s) => s.style.background),
        pieces: spans.map((s) => s.textContent ?? ""),
      };
    });
  }

  it("scores typed text with the engine's threads, equal to the trainer's score per token", async (t) => {
    const page = await open(`${await serve()}surprisal.html`);
    isolated = await typeAndRead(page);
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    assert.equal(isolated.engine, `wasm:${Math.min(8, cores)}`);
    assert.match(await page.locator("#engine").innerText(), cores > 1 ? /wasm, \d+ threads/ : /wasm, 1 thread/);
    // Chromium has relaxed SIMD, and this machine's CPU fuses its multiply-add (the loader's probe)
    assert.match(await page.locator("#engine").innerText(), /WebAssembly relaxed SIMD/);
    assert.deepEqual(isolated.pieces, Array.from(text));

    const file = join(dir, "text.txt");
    writeFileSync(file, text);
    const out = join(dir, "score");
    const cli = JSON.parse(run(TRAINER, ["score", file, "--checkpoint", checkpoint, "--json", "--top", "10000", "--out", out, "--no-progress"])) as { tokens: number; top: { index: number; loss: number }[] };
    assert.equal(cli.tokens, text.length - 1);
    const want = new Float64Array(text.length).fill(NaN);
    for (const t of cli.top) want[t.index] = t.loss;
    // the page runs the model in float64 and the head on xent's engine; the trainer in tfjs float32
    assertClose(isolated.nats, want, { atol: 1e-4, rtol: 1e-4 }, "per-token surprisal (nats)");
    t.diagnostic(`largest per-token difference from the trainer's score: ${Math.max(...isolated.nats.slice(1).map((x, i) => Math.abs(x - want[i + 1]!))).toExponential(2)} nats`);

    // the same colours as the trainer's page, token by token
    const html = readFileSync(join(out, "surprisal.html"), "utf8");
    const cliColours = Array.from(html.matchAll(/<span class="t[^"]*"[^>]*?data-bits="[\d.]+"[^>]*?style="background:(rgb\([^)]*\))"/g), (m) => m[1]!);
    assert.equal(cliColours.length, text.length - 1);
    const rgb = (s: string): number[] => (s.match(/\d+/g) ?? []).map(Number);
    cliColours.forEach((c, i) => {
      const got = rgb(isolated.colours[i + 1]!);
      assert.ok(got.length === 3 && got.every((x, k) => Math.abs(x - rgb(c)[k]!) <= 1), `token ${i + 1}: colour ${isolated.colours[i + 1]}, the trainer's page ${c}`);
    });

    await page.locator("#text .t").nth(8).focus(); // per-token figures by keyboard
    assert.match(await page.locator("#readout").innerText(), /^"s" at 8: \d+\.\d\d bits \(\d+\.\d\d nats\), p = /);
    await shot(page, "surprisal-live.png");
    await page.close();
  });

  it("falls back to one thread on a page that is not cross-origin isolated, with the same numbers", async () => {
    const page = await open(`${await serve("--no-isolation")}surprisal.html`);
    const got = await typeAndRead(page);
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), false);
    assert.equal(got.engine, "wasm:1");
    assert.match(await page.locator("#engine").innerText(), /wasm, 1 thread .*not cross-origin isolated/);
    assert.deepEqual(got.nats, isolated.nats); // the engine's results do not depend on the thread count
    await page.close();
  });
});

describe("the model demo (an ONNX model folder in ONNX Runtime Web)", () => {
  const MODEL = join(ROOT, "fixtures/tiny-gpt2-onnx");
  interface Case { name: string; text: string; ids: number[]; losses: (number | null)[] }
  const expected = JSON.parse(readFileSync(join(MODEL, "expected.json"), "utf8")) as { context: number; stride: number; cases: Case[] };

  /** Score `text` with the page's button; the per-token losses shown, and the largest GPU buffer range the page mapped for reading meanwhile. */
  async function score(page: Page, text: string): Promise<{ nats: number[]; mappedBytes: number }> {
    await page.evaluate(() => {
      (globalThis as { mappedBytes?: number }).mappedBytes = 0;
    });
    await page.locator("#input").fill(text);
    await page.locator("#score").click();
    await page.waitForFunction((t) => document.getElementById("text")!.dataset.scored === t, text, { timeout: 60_000 });
    return page.evaluate(() => ({
      nats: Array.from(document.querySelectorAll<HTMLElement>("#text .t"), (s) => (s.dataset.nats === undefined ? NaN : Number(s.dataset.nats))),
      mappedBytes: (globalThis as { mappedBytes?: number }).mappedBytes ?? 0,
    }));
  }

  /** Every fixture text: the page's per-token losses against PyTorch's for the same model and tokens (expected.json). */
  async function assertLikeTorch(page: Page, gpu: boolean): Promise<void> {
    for (const c of expected.cases) {
      const got = await score(page, c.text);
      assert.equal(got.nats.length, c.ids.length, `${c.name}: tokens`);
      assertClose(got.nats, c.losses.map((x) => x ?? NaN), { atol: 1e-4, rtol: 1e-4 }, `${c.name}: per-token loss (nats) against PyTorch`);
      // with the logits on the GPU, no N×V range is read back: only per-row values (8 bytes a row and less)
      if (gpu) assert.ok(got.mappedBytes < c.ids.length * 16, `${c.name}: the page read ${got.mappedBytes} bytes of GPU buffers back; the logits are ${c.ids.length} × 1031 floats`);
    }
  }

  it("scores on WebGPU with the logits left on the GPU, as PyTorch does per token", async () => {
    const gpuBrowser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--enable-unsafe-webgpu", "--disable-dev-shm-usage"],
    });
    try {
      const page = await gpuBrowser.newPage({ viewport: { width: 900, height: 700 } });
      // count the bytes of every GPU buffer range the page maps (reads back), before any page script runs
      await page.addInitScript(() => {
        const proto = (globalThis as { GPUBuffer?: { prototype: { mapAsync(mode: number, offset?: number, size?: number): Promise<void>; size: number } } }).GPUBuffer?.prototype;
        if (proto === undefined) return;
        const orig = proto.mapAsync;
        proto.mapAsync = function (this: { size: number }, mode: number, offset = 0, size?: number) {
          const g = globalThis as { mappedBytes?: number };
          g.mappedBytes = Math.max(g.mappedBytes ?? 0, size ?? this.size - offset);
          return orig.call(this, mode, offset, size);
        };
      });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${await serve("--model", MODEL)}model.html`);
      await page.waitForFunction(() => document.body.dataset.ready !== undefined, undefined, { timeout: 120_000 });
      assert.deepEqual(errors, [], "errors on the page");
      assert.equal(await page.evaluate(() => document.body.dataset.ready), "true", await page.locator("#engine").innerText());
      assert.equal(await page.evaluate(() => document.body.dataset.logits), "gpu-buffer");
      assert.equal(await page.evaluate(() => document.body.dataset.engine), "webgpu:1");
      await assertLikeTorch(page, true);
      await shot(page, "model-webgpu.png");
    } finally {
      await gpuBrowser.close();
    }
  });

  it("without WebGPU, runs the model on WebAssembly and the loss on the CPU engine, with the same figures", async () => {
    const page = await open(`${await serve("--model", MODEL)}model.html`);
    assert.equal(await page.evaluate(() => document.body.dataset.logits), "cpu");
    assert.match(await page.evaluate(() => document.body.dataset.engine ?? ""), /^wasm:\d+$/);
    await assertLikeTorch(page, false);
    await page.close();
  });
});
