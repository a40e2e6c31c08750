/**
 * Child process for the crash tests: save a "tiny" checkpoint whose weights all equal STEP to
 * DIR, and, when CRASH_AT names a save step, kill this process (SIGKILL, no clean-up) there.
 *   node --import tsx save-checkpoint.ts DIR STEP [CRASH_AT]
 */
import { writeCheckpointFiles, type ConfigFile, type SaveStep } from "../../src/checkpoint-file.js";
import { paramShapes, SIZES, type ModelConfig } from "../../src/config.js";
import { UNK } from "../../src/tokenizer.js";

export function tinyCheckpoint(step: number): { file: ConfigFile; weights: Float32Array } {
  const chars = [UNK, " ", "a", "b"];
  const p = SIZES.tiny!;
  const model: ModelConfig = { size: "tiny", vocabSize: chars.length, context: p.context, layers: p.layers, width: p.width, heads: p.heads, tied: true };
  const shapes = paramShapes(model);
  const total = shapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
  const file: ConfigFile = { format: "xent-tiny-gpt/1", model, tokenizer: { kind: "char", chars }, meta: { step, seed: 1 }, params: shapes.map(([name, shape]) => ({ name, shape })) };
  return { file, weights: new Float32Array(total).fill(step) };
}

const [dir, step, crashAt] = process.argv.slice(2);
if (dir !== undefined && step !== undefined) {
  const { file, weights } = tinyCheckpoint(Number(step));
  writeCheckpointFiles(dir, file, weights, { "state.json": `{"step":${step}}\n` }, (s: SaveStep) => {
    if (s === crashAt) process.kill(process.pid, "SIGKILL");
  });
}
