// The wasm module's entry: one export list for every kernel. A new kernel is one more file here
// and one more line below. The kernels take one parameter struct (abi.ts), not argument lists.
export { alloc, free } from "./memory";
export { expArray } from "./exp";
export { crossEntropyRows } from "./crossEntropy";
export { matmulNT, matmulAB } from "./matmul";
export { linearLogits, linearGrad } from "./linearCrossEntropy";
export { rowStats } from "./rowStats";
export { sliceBackward } from "./sliceBackward";
export { distillationRows } from "./distillation";
