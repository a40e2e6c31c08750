/**
 * The conformance suite (PyTorch fixtures and the extra shapes, every option) on the WebGPU
 * executor, float32 logits, against the float64 reference: with a gradient, without one, in place.
 */
import { test } from "node:test";
import { runConformance } from "../conformance/cases.js";
import { openExecutor, runOn } from "./setup.js";

const ex = await openExecutor();
if (typeof ex === "string") test("webgpu conformance", { skip: ex }, () => {});
else runConformance(`webgpu (${ex.adapterName})`, (logits, target, options) => runOn(ex, logits instanceof Float32Array ? logits : new Float32Array(logits), target, options), { f64: false });
