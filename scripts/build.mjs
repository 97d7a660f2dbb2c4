// npm run build: one esbuild bundle, dist/download-package.cjs, that needs no node_modules.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
let revision = process.env.GIT_REVISION ?? "unknown";
try {
  if (revision === "unknown") revision = execFileSync("git", ["rev-parse", "--short", "HEAD"], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
} catch {
  /* not a git checkout */
}

await build({
  entryPoints: ["src/cli.ts"],
  outfile: "dist/download-package.cjs",
  bundle: true,
  platform: "node",
  target: "node24",
  format: "cjs",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  define: { __VERSION__: JSON.stringify(pkg.version), __REVISION__: JSON.stringify(revision) },
  logLevel: "warning",
});
console.log("built dist/download-package.cjs");
