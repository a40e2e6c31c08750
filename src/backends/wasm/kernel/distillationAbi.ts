// The distillation kernel's entry-point ABI, read by both the AssemblyScript kernel
// (distillation.ts) and the host (../distillation.ts): the byte offsets of the fields of its
// parameter struct. Plain constants only, so this file is valid AssemblyScript and TypeScript.
// Field names follow the distillation spec (src/backends/distillation.ts: DistillationSpec).

// distillationRows(params, row0, row1, scratch): one struct per call, in wasm memory.
// float64 fields
export const DI_BETA = 0; // β of the JSD
export const DI_TEMPERATURE = 8; // T
export const DI_GRAD_SCALE = 16; // the gradient's factor: T, times 1/K for batchmean
// addresses (byte offsets in wasm memory, 0 for absent) and sizes, 32-bit
export const DI_STUDENT = 24; // (N, V) float32
export const DI_TEACHER = 28; // (N, V) float32
export const DI_GRAD = 32; // (N, V) float32 output, may equal DI_STUDENT, or 0
export const DI_TARGET = 36; // (N) int32, -1 masked, or 0 when every token counts
export const DI_ROW_LOSS = 40; // (N) float64 output
export const DI_V = 44; // V, int32
export const DI_KIND = 48; // int32: the effective kind (β = 0 and 1 resolved by the host)
export const DI_PARAMS_BYTES = 56;

// DI_KIND values
export const DI_KL = 0;
export const DI_REVERSE_KL = 1;
export const DI_JSD = 2;
