/**
 * The loss curve as SVG, drawn with vega-lite and rendered by vega in Node (no browser, no canvas).
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export interface LossPoint {
  step: number;
  trainLoss: number;
  valLoss: number;
}

/**
 * Train and validation loss (nats/token) against step, with ln(V) as a dashed reference line and,
 * when given, the training-batch loss of every step (averaged over 10 steps) as a faint line.
 */
export async function lossChartSvg(points: readonly LossPoint[], title: string, lnV?: number, stepLosses?: readonly number[]): Promise<string> {
  const values = points.flatMap((p) => [
    { step: p.step, split: "train", loss: p.trainLoss },
    { step: p.step, split: "validation", loss: p.valLoss },
  ]);
  const window = 10;
  const batch = (stepLosses ?? []).flatMap((_, i, all) =>
    (i + 1) % window === 0 || i === all.length - 1
      ? [{ step: i + 1, split: "training batch (10-step mean)", loss: all.slice(Math.max(0, i + 1 - window), i + 1).reduce((a, b) => a + b, 0) / Math.min(window, i + 1) }]
      : [],
  );
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 560,
    height: 300,
    background: "white",
    layer: [
      ...(batch.length > 0
        ? [
            {
              data: { values: batch },
              mark: { type: "line" as const, strokeWidth: 1, opacity: 0.45 },
              encoding: {
                x: { field: "step", type: "quantitative" as const },
                y: { field: "loss", type: "quantitative" as const },
                color: { field: "split", type: "nominal" as const },
              },
            },
          ]
        : []),
      {
        data: { values },
        mark: { type: "line", point: true, strokeWidth: 2 },
        encoding: {
          x: { field: "step", type: "quantitative", title: "step" },
          y: { field: "loss", type: "quantitative", title: "cross-entropy (nats/token)", scale: { zero: false } },
          color: {
            field: "split",
            type: "nominal",
            title: null,
            legend: { labelLimit: 260, orient: "bottom" },
            scale: { domain: ["train", "validation", "training batch (10-step mean)"], range: ["#1f77b4", "#ff7f0e", "#7f7f7f"] },
          },
        },
      },
      ...(lnV !== undefined
        ? [
            {
              data: { values: [{ y: lnV, label: `ln V = ${lnV.toFixed(2)} (uniform guess)` }] },
              layer: [
                { mark: { type: "rule" as const, strokeDash: [4, 4], color: "#888" }, encoding: { y: { field: "y", type: "quantitative" as const } } },
                {
                  mark: { type: "text" as const, align: "right" as const, dy: -6, color: "#666", x: "width" as const },
                  encoding: { y: { field: "y", type: "quantitative" as const }, text: { field: "label", type: "nominal" as const } },
                },
              ],
            },
          ]
        : []),
    ],
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
