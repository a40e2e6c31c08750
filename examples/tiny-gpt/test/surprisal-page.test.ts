/**
 * The surprisal page in headless Chromium (Debian's /usr/bin/chromium via playwright-core):
 * one span per token, coloured by surprisal, the figures in bits with nats in brackets, every
 * token's values reachable by click, by touch and by the keyboard, the surprising tokens with
 * text on both sides, and a screenshot.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { figures, surprisalColor, surprisalHtml, topTokens, type ScoreSummary } from "../src/score.js";
import { withPage } from "../../../scripts/screenshot.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "tiny-gpt-page-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const pieces = [..."The cat sat <on> the mat & \"rested\".\nA zebra ñ!"];
// surprisal rising along the text, in nats; the first token is not scored
const losses = Float64Array.from(pieces, (_, i) => (i === 0 ? NaN : (i / pieces.length) * 8));
const f = figures(losses, 40);
const summary: ScoreSummary = { file: "demo.txt", size: "tiny", checkpointStep: 10, tokenizer: "char", context: 16, stride: 8, inputBytes: 41, unknownChars: 1, invalidBytes: 0, ...f };
const unknown = new Set([pieces.indexOf("ñ")]);

function writePage(name: string, top = 5): string {
  const html = join(dir, name);
  writeFileSync(html, surprisalHtml(summary, losses, pieces, topTokens(losses, pieces, top), unknown));
  return html;
}

describe("surprisal page", () => {
  it("colours run from white (0 bits) through yellow to red (8+ bits)", () => {
    assert.equal(surprisalColor(0), "rgb(255, 255, 255)");
    assert.equal(surprisalColor(4), "rgb(255, 255, 55)");
    assert.equal(surprisalColor(8), "rgb(255, 55, 55)");
    assert.equal(surprisalColor(20), "rgb(255, 55, 55)");
  });

  it("renders one span per token with its colour, the figures with their units, and takes a screenshot", async () => {
    const png = join(dir, "surprisal.png");
    const seen = await withPage(writePage("page.html"), async (page) => {
      const spans = await page.$$eval("#text .t", (els) =>
        els.map((e) => ({ text: e.textContent, bg: getComputedStyle(e).backgroundColor, bits: e.getAttribute("data-bits"), nats: e.getAttribute("data-nats"), unknown: e.classList.contains("unk") })),
      );
      const figs = await page.$$eval(".figures div", (els) => els.map((e) => e.textContent ?? ""));
      const rows = await page.$$eval("table tr", (els) => els.map((e) => Array.from(e.children, (c) => c.textContent ?? "")));
      await page.screenshot({ path: png, fullPage: true });
      return { spans, figs, rows };
    });
    assert.equal(seen.spans.length, pieces.length);
    assert.deepEqual(seen.spans.map((s) => s.text), pieces); // escaping round-trips <, >, &, quotes, newlines; ñ kept
    assert.equal(seen.spans[0]!.bits, null);
    for (let i = 1; i < pieces.length; i++) {
      const bits = losses[i]! / Math.LN2;
      assert.equal(seen.spans[i]!.bg, surprisalColor(bits), `token ${i}`);
      assert.equal(Number(seen.spans[i]!.bits), Number(bits.toFixed(3)));
      assert.equal(Number(seen.spans[i]!.nats), Number(losses[i]!.toFixed(3)));
      assert.equal(seen.spans[i]!.unknown, unknown.has(i));
    }
    assert.ok(new Set(seen.spans.map((s) => s.bg)).size > 10, "colours should vary with surprisal");
    // every figure says its unit: bits first, nats in brackets
    assert.deepEqual(seen.figs, [
      `tokens scored${f.tokens}40 bytes`,
      `mean surprisal${f.meanBits.toFixed(4)}bits/token (${f.meanLoss.toFixed(4)} nats)`,
      `perplexity${f.perplexity.toFixed(3)}emean nats = 2mean bits`,
      `bits per byte${f.bitsPerByte.toFixed(4)}of the input`,
    ]);
    assert.deepEqual(seen.rows[0], ["bits", "(nats)", "token", "position", "in context"]);
    assert.equal(seen.rows.length, 1 + 5);
    const top = topTokens(losses, pieces, 5);
    for (const [k, t] of top.entries()) {
      const row = seen.rows[k + 1]!;
      assert.equal(row[0], t.bits.toFixed(2));
      assert.equal(row[1], `(${t.loss.toFixed(2)})`);
      assert.equal(Number(row[3]), t.index);
      // the context column has text on both sides of the token
      const flat = (s: string): string => s.replace(/\s+/g, " ");
      assert.equal(row[4], `…${flat(t.before)}${flat(t.token)}${flat(t.after)}…`);
    }
    assert.ok(top.some((t) => t.after.length > 0 && t.before.length > 0), "some surprising token has text on both sides");
    const bytes = readFileSync(png);
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]); // PNG signature
    assert.ok(statSync(png).size > 5000, "the screenshot should not be blank");
  });

  it("a token's values show on click, by the arrow keys once the text has focus, and on touch", async () => {
    const bitsOf = (i: number): string => (losses[i]! / Math.LN2).toFixed(3);
    const tok = (i: number): string => JSON.stringify(pieces[i]).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const natsOf = (i: number): string => losses[i]!.toFixed(3);
    const got = await withPage(writePage("keys.html"), async (page) => {
      const detail = async (): Promise<string> => (await page.textContent("#detail")) ?? "";
      await page.click("#t5");
      const clicked = await detail();
      await page.keyboard.press("ArrowRight");
      const right = await detail();
      await page.keyboard.press("ArrowLeft");
      await page.keyboard.press("ArrowLeft");
      const left = await detail();
      await page.keyboard.press("Home");
      const home = await detail();
      const selected = await page.$$eval("#text .t.sel", (els) => els.map((e) => e.id));
      return { clicked, right, left, home, selected };
    });
    assert.match(got.clicked, new RegExp(`^token 5 ${tok(5)}: ${bitsOf(5)} bits \\(${natsOf(5)} nats\\), p = `));
    assert.match(got.right, new RegExp(`^token 6 ${tok(6)}: ${bitsOf(6)} bits`));
    assert.match(got.left, new RegExp(`^token 4 ${tok(4)}: ${bitsOf(4)} bits`));
    assert.match(got.home, /^token 0 "T": not scored \(no history\)$/);
    assert.deepEqual(got.selected, ["t0"], "one token is selected at a time");
    // by keyboard alone: Tab to the text, then the arrows
    const tabbed = await withPage(writePage("tab.html"), async (page) => {
      await page.keyboard.press("Tab");
      const focused = await page.evaluate(() => document.activeElement?.id);
      const first = (await page.textContent("#detail")) ?? "";
      await page.keyboard.press("End");
      return { focused, first, end: (await page.textContent("#detail")) ?? "" };
    });
    assert.equal(tabbed.focused, "text");
    assert.match(tabbed.first, new RegExp(`^token 1 ${tok(1)}: ${bitsOf(1)} bits`));
    const last = pieces.length - 1;
    assert.match(tabbed.end, new RegExp(`^token ${last} ${tok(last)}: ${bitsOf(last)} bits`));
    // a tap on a touch screen
    const ni = pieces.indexOf("ñ");
    const tapped = await withPage(writePage("touch.html"), async (page) => {
      await page.tap(`#t${ni}`);
      return (await page.textContent("#detail")) ?? "";
    }, { hasTouch: true });
    assert.match(tapped, new RegExp(`^token ${ni} "ñ" \\(outside the vocabulary, scored as the unknown token\\): ${bitsOf(ni)} bits`));
  });

  it("--top 0 leaves out the table and its header", async () => {
    const html = readFileSync(writePage("none.html", 0), "utf8");
    assert.doesNotMatch(html, /Most surprising tokens|<table/);
  });
});
