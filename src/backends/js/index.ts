/** The js backend: fast float32 plain TypeScript, the fallback where WASM SIMD is missing. */
import { syncBackend } from "../common.js";
import { crossEntropy } from "./crossEntropy.js";
import { distillation } from "./distillation.js";
import { linearCrossEntropy } from "./linearCrossEntropy.js";
import { rowStats } from "./rowStats.js";
import { sliceBackward } from "./sliceBackward.js";

export const jsBackend = syncBackend("js", 10, { crossEntropy, linearCrossEntropy, distillation, rowStats, sliceBackward });
