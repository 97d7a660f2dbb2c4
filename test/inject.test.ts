// `download-package inject`, run as users run it, and the deploy/ examples, against one contract.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { assertContract, podSpecs } from "./helpers/contract.ts";
import { command, ROOT, exec, cleanEnv } from "./helpers/run.ts";

const IMAGE = "registry.example.internal/package-init-container:0.1.0";
const URL = "https://files.example.internal/p.tar.gz";

async function inject(input: string, args: string[] = []) {
  const [cmd, argv] = command(["inject", "--package-url", URL, "--image", IMAGE, ...args]);
  return exec(cmd, argv, { input, env: cleanEnv() });
}

const ALL_KINDS = `# a stream of every workload kind
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: a, image: x}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers: [{name: a, image: x}, {name: b, image: y}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s}
spec:
  template:
    spec:
      containers: [{name: a, image: x}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec:
  template:
    spec:
      containers: [{name: a, image: x}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  template:
    spec:
      containers: [{name: a, image: x}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: a, image: x}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: a, image: x}]
`;

const OTHERS = `# leading comment
apiVersion: v1
kind: Service   # a comment that must survive
metadata:
  name: svc
spec:
  ports: [ {port: 80} ]     # odd spacing kept
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data:
  k: |
    --- not a marker, indented
`;

describe("download-package inject", () => {
  it("adds the init container, the volume and read-only mounts to every workload kind", async () => {
    const r = await inject(ALL_KINDS);
    assert.equal(r.status, 0, r.stderr);
    const specs = podSpecs(r.stdout);
    assert.deepEqual(specs.map((s) => s.kind), ["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]);
    for (const { spec } of specs) {
      const init = assertContract(spec, { image: IMAGE });
      assert.equal(init.env.find((e: { name: string }) => e.name === "PACKAGE_URL").value, URL);
      assert.equal(spec.initContainers[0].name, "download-package");
    }
    assert.match(r.stderr, /injected the init container into Pod\/p, Deployment\/d, StatefulSet\/s, DaemonSet\/ds, ReplicaSet\/rs, Job\/j, CronJob\/cj/);
  });

  it("passes other documents through byte for byte, comments and all", async () => {
    const r = await inject(OTHERS);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, OTHERS);
  });

  it("keeps comments in the documents it changes", async () => {
    const src = fs.readFileSync(path.join(ROOT, "deploy/app-without-package.yaml"), "utf8");
    const r = await inject(src);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^# An existing workload/);
    assert.match(r.stdout, /# the main container/);
    assertContract(podSpecs(r.stdout)[0].spec, { image: IMAGE });
  });

  it("running it twice changes nothing the second time", async () => {
    const once = await inject(ALL_KINDS + "---\n" + OTHERS, ["--sha256", "a".repeat(64), "--env", "PACKAGE_STRIP_COMPONENTS=1"]);
    const twice = await inject(once.stdout, ["--sha256", "a".repeat(64), "--env", "PACKAGE_STRIP_COMPONENTS=1"]);
    assert.equal(twice.status, 0);
    assert.equal(twice.stdout, once.stdout);
    assert.match(twice.stderr, /nothing to change/);
  });

  it("a changed image or URL updates the existing init container instead of adding a second", async () => {
    const once = await inject(ALL_KINDS);
    const [cmd, argv] = command(["inject", "--package-url", "https://files.example.internal/v2.tar.gz", "--image", "registry.example.internal/pic:0.2.0"]);
    const again = await exec(cmd, argv, { input: once.stdout, env: cleanEnv() });
    for (const { spec } of podSpecs(again.stdout)) {
      assert.equal(spec.initContainers.length, 1);
      assert.equal(spec.initContainers[0].image, "registry.example.internal/pic:0.2.0");
      assert.equal(spec.volumes.length, 1);
      for (const c of spec.containers) assert.equal(c.volumeMounts.length, 1);
    }
  });

  it("secret references: URL, checksum and token from Secrets; env passed through; custom names", async () => {
    const [cmd, argv] = command(["inject", "-", "--url-secret", "pkg/url", "--sha256-secret", "pkg/sha", "--token-secret", "pkg/token", "--image", IMAGE, "--env", "HTTPS_PROXY=http://proxy.example.internal:3128", "--volume-name", "content", "--mount-path", "/content"]);
    const r = await exec(cmd, argv, { input: ALL_KINDS, env: cleanEnv() });
    assert.equal(r.status, 0, r.stderr);
    for (const { spec } of podSpecs(r.stdout)) {
      const init = assertContract(spec, { volume: "content", mountPath: "/content" });
      const env = Object.fromEntries(init.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]));
      assert.deepEqual(env.PACKAGE_URL, { secretKeyRef: { name: "pkg", key: "url" } });
      assert.deepEqual(env.PACKAGE_SHA256, { secretKeyRef: { name: "pkg", key: "sha" } });
      assert.equal(env.PACKAGE_TOKEN_FILE, "/var/run/secrets/download-package/token");
      assert.equal(env.PACKAGE_DEST, "/content/diff-var-files");
      assert.equal(env.HTTPS_PROXY, "http://proxy.example.internal:3128");
      assert.ok(spec.volumes.some((v: { secret?: { secretName: string } }) => v.secret?.secretName === "pkg"));
    }
  });

  it("reads a file argument too, and refuses bad input with exit 2", async () => {
    const file = path.join(ROOT, "deploy/app-without-package.yaml");
    const [cmd, argv] = command(["inject", file, "--package-url", URL, "--image", IMAGE]);
    const r = await exec(cmd, argv, { env: cleanEnv() });
    assert.equal(r.status, 0, r.stderr);
    const [c2, a2] = command(["inject", file, "--package-url", URL]);
    const noImage = await exec(c2, a2, { env: cleanEnv() });
    assert.equal(noImage.status, 2);
    assert.match(noImage.stderr, /inject needs --image/);
    const bad = await inject("kind: Deployment\n  bad: [indent\n");
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /YAML error/);
  });
});

describe("deploy/ examples", () => {
  for (const f of ["pod.yaml", "deployment.yaml"]) {
    it(`${f} meets the contract and names no credential`, async () => {
      const text = fs.readFileSync(path.join(ROOT, "deploy", f), "utf8");
      const specs = podSpecs(text);
      assert.equal(specs.length, 1);
      assertContract(specs[0].spec);
      assert.ok(specs[0].spec.imagePullSecrets?.length, "imagePullSecrets for the private registry");
      assert.doesNotMatch(text, /password|passwd|token:\s*\S{8,}/i);
    });
  }
});
