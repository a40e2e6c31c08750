/** The conformance suite on the synchronous wasm backend (after init()). */
import assert from "node:assert/strict";
import { before } from "node:test";
import { crossEntropy, init } from "../../src/index.js";
import { runConformance } from "./cases.js";

before(async () => {
  assert.equal(await init(), true, "WebAssembly SIMD is available here");
});

runConformance("wasm", (logits, target, options) => crossEntropy(logits, target, { ...options, backend: "wasm" }));
