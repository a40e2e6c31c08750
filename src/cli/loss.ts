/**
 * `xent loss`: the loss of one distribution against one target, e.g.
 *   xent loss --probs 0.7,0.2,0.1 --target 0        -> 0.356675 nats
 */
import type { Command } from "commander";
import { crossEntropy } from "../api/crossEntropy.js";
import { softmax } from "../api/softmax.js";
import { UsageError, parseIntFlag, parseNumberFlag, parseNumberList } from "./util.js";

interface LossFlags {
  probs?: string;
  logits?: string;
  target: string;
  bits?: boolean;
  json?: boolean;
  labelSmoothing?: string;
  zLoss?: string;
  softcap?: string;
}

/** How far from 1 the sum of --probs may be (typed, rounded probabilities); closer sums are renormalised. */
const PROB_SUM_TOLERANCE = 1e-3;

export function registerLoss(program: Command): void {
  program
    .command("loss")
    .description("cross-entropy of one distribution (probabilities or logits) against a target class")
    .option("--probs <list>", `comma-separated probabilities that sum to 1 (within ${PROB_SUM_TOLERANCE})`)
    .option("--logits <list>", "comma-separated logits (-inf masks a class; +inf needs --softcap)")
    .requiredOption("--target <index>", "the correct class, 0-based")
    .option("--bits", "print the loss in bits instead of nats")
    .option("--json", "print loss, probabilities and gradient as JSON")
    .option("--label-smoothing <eps>", "label smoothing ε in [0, 1]")
    .option("--z-loss <z>", "z-loss coefficient")
    .option("--softcap <s>", "soft-cap the logits at s")
    .action((flags: LossFlags) => {
      const text = runLoss(flags);
      process.stdout.write(text + "\n");
    });
}

function runLoss(flags: LossFlags): string {
  if ((flags.probs === undefined) === (flags.logits === undefined)) {
    throw new UsageError("give exactly one of --probs and --logits");
  }
  let logits: number[];
  if (flags.probs !== undefined) {
    const p = parseNumberList("--probs", flags.probs);
    p.forEach((x, i) => {
      if (!(x >= 0) || !Number.isFinite(x)) throw new UsageError(`--probs: item ${i} is ${x}; expected a probability >= 0`);
    });
    const total = p.reduce((a, b) => a + b, 0);
    if (!(Math.abs(total - 1) <= PROB_SUM_TOLERANCE)) {
      throw new UsageError(`--probs sum to ${Number(total.toPrecision(6))}; expected probabilities that sum to 1 (within ${PROB_SUM_TOLERANCE}); give unnormalised scores as --logits`);
    }
    logits = p.map((x) => Math.log(x / total));
  } else {
    logits = parseNumberList("--logits", flags.logits!);
  }
  const v = logits.length;
  const target = parseIntFlag("--target", flags.target, 0, v - 1);
  const options = {
    classes: v,
    grad: true,
    ...(flags.labelSmoothing !== undefined ? { labelSmoothing: parseNumberFlag("--label-smoothing", flags.labelSmoothing, 0, 1) } : {}),
    ...(flags.zLoss !== undefined ? { zLoss: parseNumberFlag("--z-loss", flags.zLoss, 0) } : {}),
    ...(flags.softcap !== undefined ? { softcap: parseNumberFlag("--softcap", flags.softcap, Number.MIN_VALUE) } : {}),
  };
  if (logits.every((x) => x === -Infinity)) throw new UsageError(`--logits: every logit is -inf; expected at least one above -inf`);
  const plusInf = logits.indexOf(Infinity);
  if (plusInf >= 0 && options.softcap === undefined) {
    throw new UsageError(`--logits: item ${plusInf} is +inf; without --softcap a +inf logit makes the loss NaN (as in PyTorch); expected finite logits, -inf masks, or --softcap`);
  }
  const out = crossEntropy(logits, [target], options);
  const nats = out.loss as number;
  if (Number.isNaN(nats)) throw new UsageError(`the loss of these ${flags.probs !== undefined ? "probabilities" : "logits"} is NaN; expected inputs with a defined softmax`);
  const value = flags.bits ? nats / Math.LN2 : nats;
  const unit = flags.bits ? "bits" : "nats";
  if (flags.json) {
    const probs = softmax(logits, { classes: v, ...(options.softcap !== undefined ? { softcap: options.softcap } : {}) });
    return JSON.stringify({
      loss: value,
      unit,
      nats,
      target,
      probs: Array.from(probs),
      grad: Array.from(out.grad!),
    });
  }
  return `${value.toFixed(6)} ${unit}`;
}
