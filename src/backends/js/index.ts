/** The js backend: fast float32 plain TypeScript, the fallback where WASM SIMD is missing. */
import type { Backend } from "../types.js";
import { crossEntropy } from "./crossEntropy.js";
import { linearCrossEntropy } from "./linearCrossEntropy.js";

export const jsBackend: Backend = { name: "js", crossEntropy, linearCrossEntropy };
