/** The reference backend: float64 plain TypeScript, the oracle. "auto" picks it last. */
import { syncBackend } from "../common.js";
import { crossEntropy } from "./crossEntropy.js";
import { distillation } from "./distillation.js";
import { linearCrossEntropy } from "./linearCrossEntropy.js";
import { rowStats } from "./rowStats.js";
import { sliceBackward } from "./sliceBackward.js";

export const referenceBackend = syncBackend("reference", 0, { crossEntropy, linearCrossEntropy, distillation, rowStats, sliceBackward });
