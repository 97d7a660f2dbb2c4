// `images export --out` on a pseudo filesystem: refused at once with exit 6 and one line, as
// UID 65532 (never as root in /proc). mkdir -p used to loop there forever.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fs from "node:fs";
import path from "node:path";
import { CANNOT_SWITCH_USER, runDp, tmpdir } from "./helpers/run.ts";

describe("images export --out on a pseudo filesystem", { skip: CANNOT_SWITCH_USER }, () => {
  for (const out of ["/proc/x", "/proc/self/x/y"]) {
    it(`--out ${out}: exit 6 naming the pseudo filesystem, as UID 65532`, async () => {
      // A Docker that answers (UID 65532 cannot reach the real one), so nothing stops the run before --out.
      const bin = tmpdir("dp-pseudo-bin-");
      fs.chmodSync(bin, 0o755);
      fs.writeFileSync(path.join(bin, "docker"), "#!/bin/sh\necho 20.10.24\n", { mode: 0o755 });
      // A run that spins is killed after 20 s: it then fails on its exit code.
      const r = await runDp({ PATH: `${bin}:${process.env.PATH}` }, ["images", "export", "--out", out, "--image", "busybox:1"], { asUser: 65532, timeoutMs: 20_000 });
      assert.equal(r.code, 6, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`--out ${out} is on a proc pseudo filesystem.*hint="export into a directory on a real disk"`));
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    });
  }
});
