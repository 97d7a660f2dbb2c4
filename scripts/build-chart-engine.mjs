// Builds the built-in chart renderer (src/images/chart/engine/*.go: helm's template engine with
// Go's text/template and Sprig) as WebAssembly: dist/chart-engine.wasm.gz and its JavaScript glue
// dist/chart-engine-glue.js (Go's wasm_exec.js). Offline, in GOPATH mode, from Debian's packages:
//   apt-get install golang-go golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev \
//     golang-gopkg-yaml.v3-dev golang-github-burntsushi-toml-dev golang-github-gobwas-glob-dev
// Without Go the build goes on without it, and `images list --render builtin` says so (exit 2).
// GOPATH_EXTRA adds GOPATH entries (default /usr/share/gocode, where Debian puts Go sources).

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";

const root = path.resolve(import.meta.dirname, "..");
const src = path.join(root, "src/images/chart/engine");
const dist = path.join(root, "dist");
const wasmOut = path.join(dist, "chart-engine.wasm.gz");
const glueOut = path.join(dist, "chart-engine-glue.js");
const stamp = path.join(dist, "chart-engine.stamp");
const gocode = process.env.GOPATH_EXTRA ?? "/usr/share/gocode";

function which(cmd) {
  for (const d of (process.env.PATH ?? "").split(path.delimiter).concat("/usr/lib/go/bin")) {
    const f = path.join(d, cmd);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

function skip(why) {
  for (const f of [wasmOut, glueOut, stamp]) fs.rmSync(f, { force: true });
  console.log(`chart engine NOT built: ${why}. images list --chart then needs helm on PATH (--render builtin exits 2).`);
  console.log("  to build it: apt-get install golang-go golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev golang-gopkg-yaml.v3-dev golang-github-burntsushi-toml-dev golang-github-gobwas-glob-dev");
}

fs.mkdirSync(dist, { recursive: true });
const go = which("go");
const needed = ["github.com/Masterminds/sprig", "github.com/ghodss/yaml", "gopkg.in/yaml.v3", "github.com/BurntSushi/toml", "github.com/gobwas/glob"];
const missing = needed.filter((p) => !fs.existsSync(path.join(gocode, "src", p)));
if (!go) skip("go not found");
else if (missing.length) skip(`Go sources missing in ${gocode}: ${missing.join(", ")}`);
else {
  const goroot = execFileSync(go, ["env", "GOROOT"]).toString().trim();
  const version = execFileSync(go, ["version"]).toString().trim();
  const glue = ["misc/wasm/wasm_exec.js", "lib/wasm/wasm_exec.js"].map((f) => path.join(goroot, f)).find((f) => fs.existsSync(f));
  const hash = createHash("sha256").update(version);
  for (const f of fs.readdirSync(src, { recursive: true }).map(String).sort()) {
    if (fs.statSync(path.join(src, f)).isFile()) hash.update(f).update(fs.readFileSync(path.join(src, f)));
  }
  const key = hash.digest("hex");
  if (fs.existsSync(wasmOut) && fs.existsSync(glueOut) && fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === key) {
    console.log("chart engine up to date (dist/chart-engine.wasm.gz)");
  } else if (!glue) skip(`wasm_exec.js not found under ${goroot}`);
  else {
    const gopath = fs.mkdtempSync(path.join(os.tmpdir(), "dp-chart-gopath-"));
    try {
      fs.mkdirSync(path.join(gopath, "src"));
      fs.symlinkSync(src, path.join(gopath, "src/dpchart"));
      const raw = path.join(gopath, "engine.wasm");
      const started = Date.now();
      execFileSync(go, ["build", "-trimpath", "-ldflags=-s -w", "-o", raw, "."], {
        cwd: path.join(gopath, "src/dpchart"),
        stdio: ["ignore", "inherit", "inherit"],
        env: {
          ...process.env, GO111MODULE: "off", GOPATH: `${gopath}${path.delimiter}${gocode}`, GOOS: "js", GOARCH: "wasm", GOFLAGS: "",
          // Go needs a build cache; without HOME (some CI runners) it has none of its own.
          ...(process.env.GOCACHE || process.env.HOME ? {} : { GOCACHE: path.join(os.tmpdir(), "dp-go-build-cache") }),
        },
      });
      const bytes = fs.readFileSync(raw);
      fs.writeFileSync(`${wasmOut}.new`, gzipSync(bytes, { level: 9 }));
      fs.renameSync(`${wasmOut}.new`, wasmOut);
      fs.copyFileSync(glue, glueOut);
      fs.writeFileSync(stamp, key);
      const mib = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
      console.log(`built dist/chart-engine.wasm.gz (${mib(fs.statSync(wasmOut).size)}, ${mib(bytes.length)} uncompressed; ${version}; ${((Date.now() - started) / 1000).toFixed(0)}s)`);
    } finally {
      fs.rmSync(gopath, { recursive: true, force: true });
    }
  }
}
