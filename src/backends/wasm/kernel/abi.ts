// The kernels' entry-point ABI, read by both the AssemblyScript kernels and the host
// (src/backends/wasm/abi.ts): the byte offsets of the fields of each parameter struct, and the
// block sizes the host must agree on. Plain constants only, so this file is valid AssemblyScript
// and valid TypeScript alike. Field names follow the loss spec (src/backends/types.ts: LossSpec).

// crossEntropyRows(params, row0, row1, scratch): one struct per call, in wasm memory.
// float64 fields
export const CE_LABEL_SMOOTHING = 0; // ε
export const CE_Z_LOSS = 8; // z
export const CE_SOFTCAP = 16; // s, 0 for off
export const CE_GRAD_SCALE = 24; // the gradient's factor: 1/D for mean, else 1; times 1/τ
export const CE_CLASS_WEIGHT_SUM = 32; // W = Σ_j w_j (V without class weights)
// addresses (byte offsets in wasm memory, 0 for absent) and sizes, 32-bit
export const CE_LOGITS = 40; // (N, V) float32
export const CE_GRAD = 44; // (N, V) float32 output, may equal CE_LOGITS, or 0
export const CE_TARGET = 48; // (N) int32, -1 ignored, or 0 for probability targets
export const CE_PROBS = 52; // (N, V) float32, or 0
export const CE_CLASS_WEIGHT = 56; // (V) float64, or 0
export const CE_ROW_LOSS = 60; // (N) float64 output
export const CE_LSE = 64; // (N) float64 output
export const CE_V = 68; // V, int32
export const CE_TEMPERATURE = 72; // τ, float64: the softmax sees softcap(x)/τ
export const CE_ARGMAX = 80; // (N) int32 output: the first index of each row's max, or 0
export const CE_ENTROPY = 84; // (N) float64 output: each row's entropy, or 0
export const CE_PARAMS_BYTES = 88;

// linearLogits(params, item0, item1) and linearGrad(params, item0, item1): one struct per chunk.
export const LIN_HIDDEN = 0; // (rows, D) float32, the chunk's first row
export const LIN_WEIGHT = 4; // (V, D) float32
export const LIN_LOGITS = 8; // (rows, V) float32: logits out (linearLogits), dL/dlogits in (linearGrad)
export const LIN_GRAD_HIDDEN = 12; // (rows, D) float32, accumulated
export const LIN_GRAD_WEIGHT = 16; // (V, D) float32, accumulated
export const LIN_MASK = 20; // one byte per vocabulary block (1: skipped by the gradient filter), or 0
export const LIN_ROWS = 24;
export const LIN_D = 28;
export const LIN_V = 32;
export const LIN_HIDDEN_COLS = 36; // gradHidden columns per linearGrad item, a multiple of 64 (the host's gradHiddenCols)
export const LIN_PARAMS_BYTES = 40;

// Block sizes of the fused linear cross-entropy's work items.
export const LIN_VB = 256; // vocabulary rows per block (the gradient filter's tile width)
export const LIN_HC_MIN = 64; // gradHidden columns per linearGrad item: at least,
export const LIN_HC_MAX = 256; // and at most
export const LIN_PANEL = 64; // rows of hidden per linearLogits item (even)
export const LIN_PACK_BYTES = 65536; // linearGrad's scratch per thread: matmulAB's packed slice of B (256 × 64 float32)
export const LIN_PACK_MIN_ROWS = 32; // matmulAB packs B only for products of at least this many rows (and 64 of B)

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
// rowStats(params, item0, item1, scratch) and sliceBackward(params, item0, item1, scratch): one
// struct per call; item k is the vocabulary slice [v0 + k·width, min(v1, v0 + (k+1)·width)).
// float64 fields
export const SL_LABEL_SMOOTHING = 0; // ε
export const SL_SOFTCAP = 8; // s, 0 for off
export const SL_GRAD_SCALE = 16; // sliceBackward's factor: 1/D for mean, else 1
// addresses (0 for absent) and sizes, 32-bit
export const SL_LOGITS = 24; // rows of `ld` float32, element 0 of each row being class `col0`
export const SL_GRAD = 28; // same layout, may equal SL_LOGITS; rowStats' exps when SL_REUSE_EXPS
export const SL_PROBS = 32; // same layout, or 0
export const SL_TARGET = 36; // (N) int32, -1 ignored, or 0 for probability targets
export const SL_CLASS_WEIGHT = 40; // (V) float64 over the full vocabulary, or 0
export const SL_STATS = 44; // (items, 5, N) float64: item k's statistics at stats + 40·N·k
export const SL_MERGED = 48; // (3, N) float64: the merged max, sum of exps and coefficient
export const SL_LD = 52; // elements per row of logits, grad and probs
export const SL_COL0 = 56; // the class of element 0 of each row
export const SL_N = 60; // rows
export const SL_V = 64; // the full vocabulary V
export const SL_V0 = 68; // first class of item 0
export const SL_V1 = 72; // end of the classes covered
export const SL_WIDTH = 76; // classes per item
export const SL_REUSE_EXPS = 80; // 1: rowStats stores exp(c − m_k) in grad, sliceBackward rescales them (no softcap)
export const SL_PARAMS_BYTES = 88;
