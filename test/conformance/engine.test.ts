/** The conformance suite on the engine's wasm backend at 1, 2 and 3 threads (copied-in logits). */
import { after } from "node:test";
import { createEngine, type Engine } from "../../src/index.js";
import { runConformance } from "./cases.js";

for (const threads of [1, 2, 3]) {
  let engine: Promise<Engine> | null = null;
  const get = (): Promise<Engine> => (engine ??= createEngine({ backend: "wasm", threads }));
  after(async () => {
    if (engine !== null) (await engine).dispose();
  });
  runConformance(`engine wasm ${threads}t`, async (logits, target, options) => (await get()).crossEntropy(logits, target, options));
}
