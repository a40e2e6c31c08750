/**
 * crossEntropy on every row of the conformance matrix against the reference backend (the suite in
 * suite.ts): each case with a gradient, without one, and in place, for each dtype the row runs;
 * executor rows also zero-copy.
 */
import { label, MATRIX, runnerFor } from "./matrix.js";
import { crossEntropySuite } from "./suite.js";

for (const row of MATRIX) crossEntropySuite(label(row), runnerFor(row), row.dtypes);
