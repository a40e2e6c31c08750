// The wasm module's entry: one export list for every kernel. A new kernel (e.g. a matmul for the
// fused linear cross-entropy) is one more file here and one more line below.
export { alloc, free } from "./memory";
export { expArray } from "./exp";
export { crossEntropyRows } from "./crossEntropy";
export { matmulNT, matmulAB } from "./matmul";
export { linearLogits, linearGrad, linearLogitsItems, linearGradItems } from "./linearCrossEntropy";
export { rowStats } from "./rowStats";
export { sliceBackward } from "./sliceBackward";
export { distillationRows } from "./distillation";
