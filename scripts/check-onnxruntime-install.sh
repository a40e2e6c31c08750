#!/usr/bin/env bash
# Checks how onnxruntime-node installs on this machine, in a scratch project under /tmp (needs the
# npm registry; not part of `npm test`). Its postinstall script downloads the CUDA provider on
# linux/x64 from a NuGet feed, which fails where only the npm registry is reachable. Three installs:
#   1. with the postinstall allowed and nothing set: expected to fail offline (or download CUDA);
#   2. with ONNXRUNTIME_NODE_INSTALL=skip: the script exits at once;
#   3. with --ignore-scripts: the script does not run.
# After 2 and 3 the CPU binaries (shipped in the npm package) must load and run a session.
# Usage: bash scripts/check-onnxruntime-install.sh [version]
set -uo pipefail
version="${1:-1.30.0}"
scratch="$(mktemp -d /tmp/ort-install-XXXXXX)"
repo="$(cd "$(dirname "$0")/.." && pwd)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"

fresh() {
  rm -rf node_modules package-lock.json
  # recent npm (11.19 here) runs a dependency's install script only when package.json allows it
  printf '{"name":"ort-install-check","private":true,"allowScripts":{"onnxruntime-node":true}}\n' > package.json
}

works() {
  node -e '
    const ort = require("onnxruntime-node");
    ort.InferenceSession.create(process.argv[1] + "/fixtures/tiny-gpt2-onnx/onnx/model.onnx").then(async (s) => {
      const ids = new ort.Tensor("int64", BigInt64Array.from([1n, 2n, 3n]), [1, 3]);
      const r = await s.run({ input_ids: ids, attention_mask: new ort.Tensor("int64", new BigInt64Array(3).fill(1n), [1, 3]) });
      console.log("   session runs: logits", r.logits.dims.join("x"));
    });' "$repo"
}

echo "1. npm install onnxruntime-node@$version, postinstall allowed, nothing set"
fresh
if npm install --no-audit --no-fund --foreground-scripts "onnxruntime-node@$version" > log1 2>&1; then
  echo "   installed (the CUDA provider was downloaded or not needed here)"
else
  echo "   failed: $(grep -m1 -E 'Error|ENOTFOUND|ETIMEDOUT' log1)"
fi

echo "2. ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node@$version"
fresh
if ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --foreground-scripts "onnxruntime-node@$version" > log2 2>&1; then
  echo "   installed"; works
else
  echo "   FAILED"; tail -5 log2; exit 1
fi

echo "3. npm install --ignore-scripts onnxruntime-node@$version"
fresh
if npm install --no-audit --no-fund --ignore-scripts "onnxruntime-node@$version" > log3 2>&1; then
  echo "   installed"; works
else
  echo "   FAILED"; tail -5 log3; exit 1
fi
