// YAML errors in --manifests and --values (issue 15, item 10): the same rule for both,
// exit 2 naming the file and the line, never a silently shorter image list.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { dp } from "./helpers/images.ts";
import { tmpdir } from "./helpers/run.ts";

const BROKEN = `apiVersion: v1
kind: Pod
metadata: {name: one}
spec:
  containers: [{name: a, image: "nginx:1.25"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: two
 spec: [unclosed
---
apiVersion: v1
kind: Pod
metadata: {name: three}
spec:
  containers: [{name: c, image: "redis:7"}]
`;

const BROKEN_VALUES = `web:
  image: nginx:1.25
 api: [unclosed
`;

describe("YAML errors in inputs", () => {
  for (const flag of ["--manifests", "--values"]) {
    for (const cmd of ["list", "export"]) {
      it(`${cmd} ${flag} with a broken document: exit 2 naming the file and line`, async () => {
        const f = path.join(tmpdir("dp-yaml-"), "rendered.yaml");
        fs.writeFileSync(f, flag === "--values" ? BROKEN_VALUES : BROKEN);
        const args = cmd === "list" ? ["images", "list", flag, f] : ["images", "export", "--out", tmpdir("dp-yaml-out-"), flag, f];
        const r = await dp(args);
        assert.equal(r.status, 2, r.stdout + r.stderr);
        assert.match(r.stderr, new RegExp(`${f.replace(/[.]/g, "\\.")}:${flag === "--values" ? "3" : "1[01]"}:\\d+: not valid YAML`));
        assert.equal(r.stdout, "");
      });
    }
  }
});
