// Inputs of images list/export/mirror-config that are not regular files (issue 15 item 6's rule,
// for the YAML inputs): a FIFO with no writer or a symlink to /dev/zero given as --values,
// --manifests, -f with --chart, or --chart itself (or a file inside a chart directory) is exit 2
// with one line naming it, at once: never a hang, never an endless read. helm (the real one) is
// never handed such a file either.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import { k8sTool } from "./helpers/k8s-tools.ts";
import { ROOT, runDp, tmpdir, type RunResult } from "./helpers/run.ts";

const PROBE = path.join(ROOT, "test/charts/probe");
// A FIFO read with readFileSync blocks forever; far below the harness' own 60 s.
const LIMIT = 20_000;

function exit2(r: RunResult, what: RegExp) {
  assert.equal(r.signal, null, `killed after ${LIMIT} ms: it hung (${r.stderr})`);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, what);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  assert.ok(r.ms < LIMIT);
}

describe("non-regular YAML inputs: exit 2, never a hang", () => {
  let dir: string;
  let fifo: string;
  let zero: string;
  let helm: string;
  const dp = (args: string[], env: Record<string, string> = {}) => runDp({ HELM_BIN: "/nonexistent/helm", ...env }, ["images", ...args], { timeoutMs: LIMIT });

  before(() => {
    dir = tmpdir("dp-nonreg-");
    fifo = path.join(dir, "values.fifo");
    execFileSync("mkfifo", [fifo]);
    zero = path.join(dir, "zero.yaml");
    fs.symlinkSync("/dev/zero", zero);
    helm = k8sTool("helm");
  });

  for (const [flag, cmd] of [["--values", "list"], ["--manifests", "list"], ["--values", "export"], ["--manifests", "mirror-config"]] as const) {
    it(`${cmd} ${flag} on a FIFO, a symlink to /dev/zero, a directory`, async () => {
      const extra = cmd === "export" ? ["--out", tmpdir("dp-nonreg-out-")] : cmd === "mirror-config" ? ["--registry", "reg.internal"] : [];
      exit2(await dp([cmd, ...extra, flag, fifo]), new RegExp(`cannot read ${flag} ${fifo.replace(/[.]/g, "\\.")}: a FIFO, not a regular file`));
      exit2(await dp([cmd, ...extra, flag, zero]), new RegExp(`cannot read ${flag} .*zero\\.yaml: a device, not a regular file`));
      exit2(await dp([cmd, ...extra, flag, dir]), /a directory, not a regular file/);
    });
  }

  it("--chart on a FIFO or a symlink to /dev/zero", async () => {
    exit2(await dp(["list", "--chart", fifo, "--render", "builtin"]), /--chart .*values\.fifo: a FIFO, not a regular file/);
    exit2(await dp(["list", "--chart", zero, "--render", "builtin"]), /--chart .*zero\.yaml: a device, not a regular file/);
    exit2(await dp(["list", "--chart", fifo, "--render", "helm"], { HELM_BIN: helm }), /--chart .*values\.fifo: a FIFO/);
  });

  for (const render of ["builtin", "helm"]) {
    it(`--render ${render}: -f on a FIFO or /dev/zero next to --chart`, async () => {
      exit2(await dp(["list", "--chart", PROBE, "--render", render, "-f", fifo], { HELM_BIN: helm }), /cannot read values file .*values\.fifo: a FIFO, not a regular file/);
      exit2(await dp(["export", "--out", tmpdir("dp-nonreg-out-"), "--chart", PROBE, "--render", render, "-f", zero], { HELM_BIN: helm }), /cannot read values file .*zero\.yaml: a device/);
    });

    it(`--render ${render}: a FIFO or /dev/zero inside the chart directory is named; an ignored one is not read`, async () => {
      const chart = path.join(tmpdir("dp-nonreg-chart-"), "probe");
      fs.cpSync(PROBE, chart, { recursive: true });
      execFileSync("mkfifo", [path.join(chart, "templates/pipe.yaml")]);
      exit2(await dp(["list", "--chart", chart, "--render", render], { HELM_BIN: helm }), /--chart .*probe: templates\/pipe\.yaml: a FIFO, not a regular file/);
      fs.writeFileSync(path.join(chart, ".helmignore"), "templates/pipe.yaml\n");
      const ok = await dp(["list", "--chart", chart, "--render", render], { HELM_BIN: helm });
      assert.equal(ok.signal, null, "hung on an ignored FIFO");
      assert.equal(ok.code, 0, ok.stderr);
      fs.rmSync(path.join(chart, "values.yaml"));
      fs.symlinkSync("/dev/zero", path.join(chart, "values.yaml"));
      exit2(await dp(["list", "--chart", chart, "--render", render], { HELM_BIN: helm }), /probe: values\.yaml: a device, not a regular file/);
      fs.rmSync(path.join(chart, "values.yaml"));
      fs.copyFileSync(path.join(PROBE, "values.yaml"), path.join(chart, "values.yaml"));
      fs.rmSync(path.join(chart, ".helmignore"));
      execFileSync("mkfifo", [path.join(chart, ".helmignore")]);
      exit2(await dp(["list", "--chart", chart, "--render", render], { HELM_BIN: helm }), /probe: \.helmignore: a FIFO/);
    });
  }
});
