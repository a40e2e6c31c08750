/**
 * Scoring speed with an ONNX model folder: tokens per second over a 10 kB English text (nlp-corpus
 * sentences the fixture model was not trained on), and the time in the model (ONNX Runtime) against
 * the time in xent's loss, one warm-up run then the median and minimum of timed runs.
 *   node --import tsx bench/lm-score.ts [modelDir] [threads] [runs] [bytes]
 * modelDir defaults to fixtures/tiny-gpt2-onnx; threads to ONNX Runtime's choice (0).
 */
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadModelFolder } from "../examples/tiny-gpt/src/lm/model-folder.js";
import { scoreText } from "../examples/tiny-gpt/src/lm/score-text.js";

const dir = process.argv[2] ?? "fixtures/tiny-gpt2-onnx";
const threads = Number(process.argv[3] ?? 0);
const runs = Number(process.argv[4] ?? 5);
const bytes = Number(process.argv[5] ?? 10_000);

const root = join(dirname(createRequire(import.meta.url).resolve("nlp-corpus")), "..", "..");
const sentences = JSON.parse(readFileSync(join(root, "builds", "doc-50.json"), "utf8")) as string[];
let text = "";
for (const s of sentences) {
  if (Buffer.byteLength(text + s) + 1 > bytes) break;
  text += s.replace(/\s+/g, " ").trim() + "\n";
}

const model = await loadModelFolder(dir, threads > 0 ? { threads } : {});
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const total: number[] = [];
const inModel: number[] = [];
const inLoss: number[] = [];
const inTokenizer: number[] = [];
let tokens = 0;
for (let i = 0; i < 1 + runs; i++) {
  const t0 = performance.now();
  model.tokenizer.encode(text);
  const t1 = performance.now();
  const r = await scoreText(model, text);
  const t2 = performance.now();
  if (i === 0) {
    tokens = r.ids.length;
    console.log(`${dir}: ${model.modelType}, V=${model.vocabSize}, context ${model.context}, stride ${r.stride}; ${Buffer.byteLength(text)} bytes -> ${tokens} tokens; mean loss ${r.meanLoss.toFixed(4)}, ${r.bitsPerByte.toFixed(4)} bits/byte`);
    continue;
  }
  inTokenizer.push(t1 - t0);
  total.push(t2 - t1);
  inModel.push(r.modelMs);
  inLoss.push(r.lossMs);
}
await model.dispose();
const f = (xs: number[]): string => `${median(xs).toFixed(1)} / ${Math.min(...xs).toFixed(1)}`;
console.log(`threads ${threads || "ORT default"}, ${runs} runs, median / min ms:`);
console.log("| scoreText total | in the model (ORT) | in xent's loss | tokenizer alone | tokens/s (median) | xent share |");
console.log("|---|---|---|---|---|---|");
console.log(`| ${f(total)} | ${f(inModel)} | ${f(inLoss)} | ${f(inTokenizer)} | ${Math.round(tokens / (median(total) / 1000))} | ${((100 * median(inLoss)) / median(total)).toFixed(1)}% |`);
