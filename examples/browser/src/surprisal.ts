/**
 * The live surprisal demo: the tiny GPT of `npm start` scores the text in the textarea as it is
 * typed, and every character is coloured by its surprisal in bits, with the colours of the
 * trainer's surprisal page. The LM head and the loss run on xent's engine, the fastest the
 * browser offers, and the page says which.
 *
 * For the tests: #text[data-scored] is the text last scored, and every scored span carries
 * data-nats (full precision) and data-bits.
 */
import { createEngine, wasmFeatures, type Engine } from "xent";
import { byId, render, renderLegend } from "./render.js";
import { charTokenizer, CheckpointError, headWeight, hiddenStates, parseCheckpoint, scoringWindows, type Gpt } from "./gpt.js";

/** Which engine runs, and why not a faster one. */
function describeEngine(engine: Engine): string {
  const f = wasmFeatures();
  if (engine.backend === "js") return "engine: <b>js</b> (this browser lacks WebAssembly SIMD)";
  const simd = f.relaxedSimd ? "WebAssembly relaxed SIMD" : "WebAssembly SIMD";
  if (engine.threads > 1) return `engine: <b>wasm, ${engine.threads} threads</b> (${simd} on Web Workers; the page is cross-origin isolated)`;
  const why = globalThis.crossOriginIsolated ? "this device reports one core" : "the page is not cross-origin isolated, so no SharedArrayBuffer for threads";
  return `engine: <b>wasm, 1 thread</b> (${simd}; ${why})`;
}

async function fetchCheckpoint(): Promise<Gpt> {
  const [c, w] = await Promise.all([fetch("checkpoint/config.json"), fetch("checkpoint/weights.bin")]);
  if (!c.ok || !w.ok) {
    throw new CheckpointError("no checkpoint at checkpoint/ on this server: run npm start to train one (serve.mjs serves runs/latest/checkpoint, or --checkpoint DIR), or open one below");
  }
  return parseCheckpoint(await c.json(), await w.arrayBuffer());
}

async function readFiles(files: FileList): Promise<Gpt> {
  const list = Array.from(files);
  const config = list.find((f) => f.name.endsWith(".json"));
  const weights = list.find((f) => f.name.endsWith(".bin"));
  if (config === undefined || weights === undefined) throw new CheckpointError("choose both config.json and weights.bin of one checkpoint");
  return parseCheckpoint(JSON.parse(await config.text()), await weights.arrayBuffer());
}

class Scorer {
  private readonly tok;
  private readonly head: Float32Array;
  /** Per-token losses of windows already scored, by the window's ids: typing at the end rescoring only the last window. */
  private readonly cache = new Map<string, Float32Array>();
  readonly stride: number;

  constructor(
    readonly gpt: Gpt,
    private readonly engine: Engine,
  ) {
    this.tok = charTokenizer(gpt.chars);
    this.head = headWeight(gpt);
    this.stride = Math.max(1, Math.floor(gpt.config.context / 2));
  }

  /** Per-token surprisal in nats (NaN for the first token, which has no history) and each token's text. */
  async score(text: string): Promise<{ losses: Float64Array; pieces: string[] }> {
    const ids = this.tok.encode(text);
    const losses = new Float64Array(ids.length).fill(NaN);
    for (const w of scoringWindows(ids.length, this.gpt.config.context, this.stride)) {
      const inputs = ids.subarray(w.begin, w.end - 1);
      const key = ids.subarray(w.begin, w.end).join(",");
      let perToken = this.cache.get(key);
      if (perToken === undefined) {
        const hidden = hiddenStates(this.gpt, inputs);
        const out = await this.engine.linearCrossEntropy(hidden, this.head, ids.subarray(w.begin + 1, w.end), { reduction: "none" });
        perToken = Float32Array.from(out.loss); // "none": the per-token losses
        if (this.cache.size > 2000) this.cache.clear();
        this.cache.set(key, perToken);
      }
      for (let pos = w.from; pos < w.end; pos++) losses[pos] = perToken[pos - w.begin - 1]!;
    }
    // characters outside the vocabulary are scored as its first entry but shown as typed
    const typed = Array.from(text);
    return { losses, pieces: Array.from(ids, (id, i) => (id === 0 ? typed[i]! : this.tok.piece(id))) };
  }
}

async function main(): Promise<void> {
  renderLegend();
  const engine = await createEngine();
  byId("engine", HTMLElement).innerHTML = describeEngine(engine);
  document.body.dataset.engine = `${engine.backend}:${engine.threads}`;
  const input = byId("input", HTMLTextAreaElement);
  const modelEl = byId("model", HTMLElement);
  const textEl = byId("text", HTMLElement);
  let scorer: Scorer | null = null;
  let running = false;
  let again = false;

  const update = async (): Promise<void> => {
    if (scorer === null) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const text = input.value;
        const t0 = performance.now();
        const { losses, pieces } = await scorer.score(text);
        if (input.value !== text) continue; // typed meanwhile: score the newer text first
        render(losses, pieces, performance.now() - t0);
        textEl.dataset.scored = text;
      } while (again || input.value !== textEl.dataset.scored);
    } finally {
      running = false;
    }
  };

  const use = (gpt: Gpt): void => {
    scorer = new Scorer(gpt, engine);
    const c = gpt.config;
    modelEl.textContent = `model: tiny GPT "${c.size}" at step ${gpt.step}: ${c.layers} layer${c.layers === 1 ? "" : "s"}, width ${c.width}, ${c.vocabSize} characters, context ${c.context}; windows of ${c.context}, stride ${scorer.stride}`;
    modelEl.classList.remove("error");
    textEl.dataset.scored = "\u0000"; // force a rescore
    void update();
  };
  const fail = (e: unknown): void => {
    modelEl.textContent = `model: ${e instanceof Error ? e.message : String(e)}`;
    modelEl.classList.add("error");
  };

  input.addEventListener("input", () => void update());
  byId("files", HTMLInputElement).addEventListener("change", (ev) => {
    const files = ev.target instanceof HTMLInputElement ? ev.target.files : null;
    if (files !== null) readFiles(files).then(use, fail);
  });
  try {
    use(await fetchCheckpoint());
  } catch (e) {
    fail(e);
  }
  document.body.dataset.ready = "true";
}

main().catch((e: unknown) => {
  const el = document.getElementById("engine");
  if (el !== null) el.textContent = `failed: ${e instanceof Error ? e.message : String(e)}`;
  document.body.dataset.ready = "error";
});
