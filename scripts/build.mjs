// npm run build: one esbuild bundle, dist/download-package.cjs, that needs no node_modules.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
let revision = process.env.GIT_REVISION ?? "unknown";
try {
  if (revision === "unknown") revision = execFileSync("git", ["rev-parse", "--short", "HEAD"], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
} catch {
  /* not a git checkout */
}

// `node dist/download-package.cjs` may be run by an older Node than the one the project
// pins (the machine's own Node 20, say), where undici 8 and zstd are missing: re-run the
// bundle with the project's Node from node_modules when it is there, else say what to do.
const relaunch = `if (+process.versions.node.split(".")[0] < 22 && !process.env.DOWNLOAD_PACKAGE_RELAUNCHED) {
  const path = require("path"), fs = require("fs");
  const pinned = path.join(__dirname, "..", "node_modules", "node", "bin", "node");
  if (!fs.existsSync(pinned)) {
    process.stderr.write("download-package needs Node.js 22 or newer, this is " + process.version + ": run dist/download-package (no Node needed), or npm ci and npx node dist/download-package.cjs\\n");
    process.exit(2);
  }
  for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => {});
  const r = require("child_process").spawnSync(pinned, [__filename, ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, DOWNLOAD_PACKAGE_RELAUNCHED: "1" } });
  process.exit(r.status ?? (r.signal ? 128 + (require("os").constants.signals[r.signal] || 15) : 1));
}`;

const common = { bundle: true, platform: "node", target: "node24", format: "cjs", minify: true, sourcemap: false, legalComments: "none", logLevel: "warning", write: false };
// The extraction worker (src/archive/worker-main.ts) as its own bundle, carried inside the main
// one as a string: the single executable has no files beside it to start a worker from.
const worker = await build({ ...common, entryPoints: ["src/archive/worker-main.ts"], outfile: "dist/worker.cjs" });
const workerCode = new TextDecoder().decode(worker.outputFiles[0].contents);

const result = await build({
  ...common,
  banner: { js: relaunch },
  entryPoints: ["src/cli/entry.ts"],
  outfile: "dist/download-package.cjs",
  define: { __VERSION__: JSON.stringify(pkg.version), __REVISION__: JSON.stringify(revision), __WORKER_CODE__: JSON.stringify(workerCode) },
});
// Written beside and renamed over: a process starting the bundle never reads half of it.
const out = new URL("../dist/download-package.cjs", import.meta.url);
mkdirSync(new URL("../dist/", import.meta.url), { recursive: true });
writeFileSync(new URL("../dist/download-package.cjs.new", import.meta.url), result.outputFiles[0].contents);
renameSync(new URL("../dist/download-package.cjs.new", import.meta.url), out);
console.log("built dist/download-package.cjs");
// The built-in chart renderer (WebAssembly), loaded by `images list --chart` only.
await import("./build-chart-engine.mjs");
