/** The conformance suite on the reference backend itself (float32 input, inplace, dtypes). */
import { crossEntropy } from "../../src/index.js";
import { runConformance } from "./cases.js";

runConformance("reference", (logits, target, options) => crossEntropy(logits, target, { ...options, backend: "reference" }));
