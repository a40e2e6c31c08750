/**
 * The model demo: a causal LM folder (config.json, tokenizer.json, onnx/model.onnx) served beside
 * the page under model/ runs in ONNX Runtime Web; xent computes every token's loss from its logits.
 *
 * With WebGPU the model runs on the GPU and its logits stay there ("gpu-buffer" outputs): xent's
 * webgpu engine, created on ONNX Runtime's own GPUDevice, reads them where they lie, and only the
 * per-token losses come back to the page. Without WebGPU the model runs on WebAssembly and the
 * losses on xent's CPU engine. The scoring itself (windows, offsets, figures) is the trainer's
 * `scoreText` (examples/tiny-gpt/src/lm/score-text.ts), the same code as `tiny-gpt score --model`.
 *
 * For the tests: body[data-engine] is "backend:threads", body[data-logits] "gpu-buffer" or
 * "cpu", #text[data-scored] the text last scored, and each scored span carries data-nats.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import type * as OrtWeb from "onnxruntime-web";
import { createEngine, type Engine } from "xent";
import { floatLogits, modelSizes, sessionRunner, wrapTokenizer } from "../../tiny-gpt/src/lm/onnx-model.js";
import { scoreText, type ScoringModel } from "../../tiny-gpt/src/lm/score-text.js";
import { byId, render, renderLegend } from "./render.js";

type Ort = typeof OrtWeb;

/** ONNX Runtime Web, loaded at run time from the server's /ort/ (its .wasm files lie beside it), not bundled. */
async function loadOrt(webgpu: boolean): Promise<Ort> {
  const url = new URL(webgpu ? "ort/ort.webgpu.min.mjs" : "ort/ort.wasm.min.mjs", document.baseURI).href;
  const m: unknown = await import(/* webpackIgnore: true */ url);
  if (typeof m !== "object" || m === null || !("InferenceSession" in m) || !("Tensor" in m) || !("env" in m)) {
    throw new Error(`${url} is not ONNX Runtime Web (serve.mjs serves it from node_modules/onnxruntime-web)`);
  }
  return m as Ort; // checked above: the module's own type is onnxruntime-web's
}

async function fetchJson(path: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  const r = await fetch(path);
  if (!r.ok) {
    if (!required) return undefined;
    throw new Error(`no ${path} on this server (serve.mjs --model DIR serves a model folder: config.json, tokenizer.json, onnx/model.onnx)`);
  }
  const v: unknown = await r.json();
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${path} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** True when this browser gives a WebGPU adapter. */
async function hasWebGpu(): Promise<boolean> {
  if (!("gpu" in navigator) || navigator.gpu === undefined) return false;
  try {
    return (await navigator.gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

interface PageModel extends ScoringModel {
  engine: Engine;
  where: "gpu-buffer" | "cpu";
  describe: string;
}

async function loadModel(): Promise<PageModel> {
  const [config, tokJson, tokConfig] = await Promise.all([fetchJson("model/config.json", true), fetchJson("model/tokenizer.json", true), fetchJson("model/tokenizer_config.json", false)]);
  const { vocabSize, context } = modelSizes(config!, "model/config.json");
  const tokenizer = wrapTokenizer(new Tokenizer(tokJson!, tokConfig ?? {}), tokJson!);
  const bytes = await fetch("model/onnx/model.onnx").then((r) => {
    if (!r.ok) throw new Error("no model/onnx/model.onnx on this server");
    return r.arrayBuffer();
  });
  const gpu = await hasWebGpu();
  const ort = await loadOrt(gpu);
  ort.env.wasm.wasmPaths = new URL("ort/", document.baseURI).href;
  const session = await ort.InferenceSession.create(new Uint8Array(bytes), gpu ? { executionProviders: ["webgpu"], preferredOutputLocation: "gpu-buffer" } : { executionProviders: ["wasm"] });
  const run = await sessionRunner(ort, session, config!, vocabSize, "model/onnx/model.onnx");
  const modelType = typeof config!.model_type === "string" ? config!.model_type : "causal LM";
  const describe = `model: ${modelType}, vocabulary ${vocabSize}, context ${context}, on ${gpu ? "WebGPU" : "WebAssembly"} (ONNX Runtime Web)`;
  if (gpu) {
    const engine = await createEngine({ backend: "webgpu", device: await ort.env.webgpu.device });
    const logits = async (ids: Int32Array) => {
      const t = await run(ids);
      if (t.location !== "gpu-buffer") return floatLogits(t, "model/onnx/model.onnx");
      return t;
    };
    return { tokenizer, vocabSize, context, logits, engine, where: "gpu-buffer", describe };
  }
  const engine = await createEngine();
  return { tokenizer, vocabSize, context, logits: async (ids) => floatLogits(await run(ids), "model/onnx/model.onnx"), engine, where: "cpu", describe };
}

function describeEngine(engine: Engine, where: PageModel["where"]): string {
  if (where === "gpu-buffer") return "engine: <b>webgpu</b> (xent on the model's GPUDevice; the logits stay in GPU buffers, only per-token losses are read back)";
  return `engine: <b>${engine.backend}, ${engine.threads} thread${engine.threads === 1 ? "" : "s"}</b> (no WebGPU here: the model's logits are read back to the CPU)`;
}

async function main(): Promise<void> {
  renderLegend();
  const modelEl = byId("model", HTMLElement);
  const input = byId("input", HTMLTextAreaElement);
  const textEl = byId("text", HTMLElement);
  let model: PageModel;
  try {
    model = await loadModel();
  } catch (e) {
    modelEl.textContent = `model: ${e instanceof Error ? e.message : String(e)}`;
    modelEl.classList.add("error");
    document.body.dataset.ready = "error";
    return;
  }
  modelEl.textContent = model.describe;
  byId("engine", HTMLElement).innerHTML = describeEngine(model.engine, model.where);
  document.body.dataset.engine = `${model.engine.backend}:${model.engine.threads}`;
  document.body.dataset.logits = model.where;

  const score = async (): Promise<void> => {
    const text = input.value;
    const t0 = performance.now();
    const r = await scoreText(model, text);
    render(r.losses, r.pieces, performance.now() - t0);
    textEl.dataset.scored = text;
  };
  byId("score", HTMLButtonElement).addEventListener("click", () => {
    score().catch((e: unknown) => {
      modelEl.textContent = `scoring failed: ${e instanceof Error ? e.message : String(e)}`;
      modelEl.classList.add("error");
    });
  });
  await score();
  document.body.dataset.ready = "true";
}

main().catch((e: unknown) => {
  const el = document.getElementById("engine");
  if (el !== null) el.textContent = `failed: ${e instanceof Error ? e.message : String(e)}`;
  document.body.dataset.ready = "error";
});
