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

/** Train and validation loss (nats/token) against step, with ln(V) as a dashed reference line. */
export async function lossChartSvg(points: readonly LossPoint[], title: string, lnV?: number): Promise<string> {
  const values = points.flatMap((p) => [
    { step: p.step, split: "train", loss: p.trainLoss },
    { step: p.step, split: "validation", loss: p.valLoss },
  ]);
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 560,
    height: 300,
    background: "white",
    layer: [
      {
        data: { values },
        mark: { type: "line", point: true, strokeWidth: 2 },
        encoding: {
          x: { field: "step", type: "quantitative", title: "step" },
          y: { field: "loss", type: "quantitative", title: "cross-entropy (nats/token)", scale: { zero: false } },
          color: { field: "split", type: "nominal", title: null, scale: { range: ["#1f77b4", "#ff7f0e"] } },
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
