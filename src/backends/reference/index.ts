/** The reference backend: float64 plain TypeScript, the oracle. */
import type { Backend } from "../types.js";
import { crossEntropy } from "./crossEntropy.js";
import { linearCrossEntropy } from "./linearCrossEntropy.js";

export const referenceBackend: Backend = { name: "reference", crossEntropy, linearCrossEntropy };
