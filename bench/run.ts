/** `npm run bench`: the engine benchmark (bench/engine.ts; see there for options). The core js-vs-reference bench is `npm run bench:core`. */
import "./engine.js";
