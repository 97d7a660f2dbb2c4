// The benchmark in its quick mode, so that it keeps working (timings are not asserted:
// speed is measured by `npm run bench`, never by a test).

import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { exec, ROOT, tmpdir } from "./helpers/run.ts";

describe("bench", () => {
  it("node bench/run.mjs --quick runs every contender and writes nothing outside the destination", async () => {
    const r = await exec(process.execPath, [path.join(ROOT, "bench/run.mjs"), "--quick"], { env: { ...process.env, BENCH_DIR: tmpdir("dp-bench-") } });
    assert.equal(r.status, 0, r.stderr);
    for (const c of ["download-package", "curl \\\\| tar", "local tar -x"]) assert.match(r.stdout, new RegExp(`\\\\| ${c} \\\\| \\\\d+\\\\.\\\\d+ s`), c);
    assert.match(r.stdout, /Files written outside the destination by download-package .*: 0 files/);
    assert.match(r.stdout, /\\| download-package --version \\| \\d+\\.\\d ms \\|/);
  });
});
