/** The conformance suite on the fast js backend. */
import { crossEntropy } from "../../src/index.js";
import { runConformance } from "./cases.js";

runConformance("js", (logits, target, options) => crossEntropy(logits, target, { ...options, backend: "js" }));
