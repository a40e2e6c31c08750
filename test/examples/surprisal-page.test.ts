/**
 * The surprisal page in headless Chromium (Debian's /usr/bin/chromium via playwright-core):
 * one span per token, coloured by surprisal, the figures shown, and a screenshot taken.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { figures, surprisalColor, surprisalHtml, topTokens, type ScoreSummary } from "../../examples/tiny-gpt/score.js";
import { withPage } from "../../scripts/screenshot.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "xent-page-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("surprisal page", () => {
  it("colours run from white (0 bits) through yellow to red (8+ bits)", () => {
    assert.equal(surprisalColor(0), "rgb(255, 255, 255)");
    assert.equal(surprisalColor(4), "rgb(255, 255, 55)");
    assert.equal(surprisalColor(8), "rgb(255, 55, 55)");
    assert.equal(surprisalColor(20), "rgb(255, 55, 55)");
  });

  it("renders one span per token with its colour and the figures, and takes a screenshot", async () => {
    const pieces = [..."The cat sat <on> the mat & \"rested\".\nA zebra!"];
    // surprisal rising along the text, in nats; the first token is not scored
    const losses = Float64Array.from(pieces, (_, i) => (i === 0 ? NaN : (i / pieces.length) * 8));
    const f = figures(losses, pieces);
    const summary: ScoreSummary = { file: "demo.txt", size: "tiny", checkpointStep: 10, tokenizer: "char", context: 16, stride: 8, ...f };
    const html = join(dir, "surprisal.html");
    writeFileSync(html, surprisalHtml(summary, losses, pieces, topTokens(losses, pieces, 5)));
    const png = join(dir, "surprisal.png");
    const seen = await withPage(html, async (page) => {
      const spans = await page.$$eval("#text .t", (els) =>
        els.map((e) => ({ text: e.textContent, bg: getComputedStyle(e).backgroundColor, bits: e.getAttribute("data-bits") })),
      );
      const figs = await page.$$eval(".figures b", (els) => els.map((e) => e.textContent));
      const rows = await page.$$eval("table tr", (els) => els.length);
      await page.screenshot({ path: png, fullPage: true });
      return { spans, figs, rows };
    });
    assert.equal(seen.spans.length, pieces.length);
    assert.deepEqual(seen.spans.map((s) => s.text), pieces); // escaping round-trips <, >, &, quotes, newlines
    assert.equal(seen.spans[0]!.bits, null);
    for (let i = 1; i < pieces.length; i++) {
      const bits = losses[i]! / Math.LN2;
      assert.equal(seen.spans[i]!.bg, surprisalColor(bits), `token ${i}`);
      assert.equal(Number(seen.spans[i]!.bits), Number(bits.toFixed(3)));
    }
    assert.ok(new Set(seen.spans.map((s) => s.bg)).size > 10, "colours should vary with surprisal");
    assert.deepEqual(seen.figs, [String(f.tokens), f.meanLoss.toFixed(4), f.perplexity.toFixed(3), f.bitsPerByte.toFixed(4)]);
    assert.equal(seen.rows, 1 + 5);
    const bytes = readFileSync(png);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]); // PNG signature
    assert.ok(statSync(png).size > 5000, "the screenshot should not be blank");
  });
});
