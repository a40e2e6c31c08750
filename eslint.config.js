// ESLint flat config: the recommended JS and typescript-eslint rules over the TypeScript sources.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["tmp/", "**/dist/", "**/node_modules/", "runs/", "examples/*/runs/", "src/backends/wasm/kernel/", "**/*.gen.ts", "fixtures/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: "readonly", process: "readonly", URL: "readonly", performance: "readonly" } },
    rules: {
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
);
