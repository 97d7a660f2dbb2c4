// `download-package inject`, run as users run it, and the deploy/ examples, against one contract.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { isMap, isSeq, parseAllDocuments, type YAMLMap, type YAMLSeq } from "yaml";
import { inject as injectText, type InjectOptions } from "../src/inject/inject.ts";
import { findWorkloads } from "../src/inject/workloads.ts";
import { assertContract, assertCrossRefs, assertSchemaValid, podSpecs } from "./helpers/contract.ts";
import { command, ROOT, exec, cleanEnv } from "./helpers/run.ts";
import { parseConfig } from "../src/cli/config.ts";

const IMAGE = "registry.example.internal/package-init-container:0.1.0";
// Real-world manifests (see the corpus README): read in place, never copied into the repository.
const CORPUS = [process.env.DP_CORPUS, path.resolve(ROOT, "../shared/corpus/manifests"), "/work/shared/corpus/manifests"].find((d) => d && fs.existsSync(d)) ?? "";
const URL = "https://files.example.internal/p.tar.gz";

type Obj = Record<string, any>;

/** Every document as Kubernetes reads it (YAML 1.1: 0755 is octal, << merges). */
function docs(text: string): Obj[] {
  return parseAllDocuments(text, { version: "1.1", merge: true }).map((d) => {
    assert.deepEqual(d.errors, [], "the output parses");
    return d.toJS({ maxAliasCount: -1 });
  });
}

/** Input lines missing from the output (in order); only insertions leave none. */
function removedLines(input: string, output: string): string[] {
  const split = (t: string) => t.split(/\r?\n/);
  const out = split(output);
  const missing: string[] = [];
  let j = 0;
  for (const line of split(input)) {
    const k = out.indexOf(line, j);
    if (k < 0) missing.push(line);
    else j = k + 1;
  }
  return missing;
}

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
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers: [{name: a, image: x}, {name: b, image: w}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s}
spec:
  selector: {matchLabels: {app: s}}
  template:
    metadata: {labels: {app: s}}
    spec:
      containers: [{name: a, image: x}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds}
spec:
  selector: {matchLabels: {app: ds}}
  template:
    metadata: {labels: {app: ds}}
    spec:
      containers: [{name: a, image: x}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  selector: {matchLabels: {app: rs}}
  template:
    metadata: {labels: {app: rs}}
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
  for (const f of ["pod.yaml", "deployment.yaml", "oci-package.yaml"]) {
    it(`${f} meets the contract and names no credential`, async () => {
      const text = fs.readFileSync(path.join(ROOT, "deploy", f), "utf8");
      const specs = podSpecs(text);
      assert.equal(specs.length, 1);
      assertContract(specs[0].spec);
      assert.ok(specs[0].spec.imagePullSecrets?.length, "imagePullSecrets for the private registry");
      assert.doesNotMatch(text, /password|passwd|token:\s*\S{8,}/i);
      for (const o of docs(text)) await assertSchemaValid(o);
      assertCrossRefs(specs[0].spec);
      // The init container's settings are ones the program itself accepts.
      const init = specs[0].spec.initContainers!.find((c: { name: string }) => c.name === "download-package")!;
      const env = Object.fromEntries((init.env ?? []).filter((e: { value?: string }) => e.value !== undefined).map((e: { name: string; value: string }) => [e.name, e.value]));
      assert.doesNotThrow(() => parseConfig([], env));
    });
  }

  it("pod.yaml, written by hand, is exactly what inject writes with the same settings", async () => {
    const text = fs.readFileSync(path.join(ROOT, "deploy/pod.yaml"), "utf8");
    const [cmd, argv] = command(["inject", "--package-url", "https://files.example.internal/packages/site.tar.gz", "--image", IMAGE, "--size-limit", "1Gi", "--image-pull-secret", "private-registry"]);
    const r = await exec(cmd, argv, { input: text, env: cleanEnv() });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, text);
    assert.match(r.stderr, /nothing to change/);
  });
});

const OCTAL = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: octal
  labels: {app: "yes", tier: '0755'}
spec:
  selector: {matchLabels: {app: "yes"}}
  template:
    metadata: {labels: {app: "yes"}}
    spec:
      containers:
      - name: main
        image: x
        env:
        - {name: FLAG, value: "1"}
        - name: "ON"
          value: 'on'
      volumes:
      - name: scripts
        configMap:
          name: scripts
          defaultMode: 0755
          optional: yes
`;

const SHARED = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: shared
spec:
  selector: {matchLabels: {app: shared}}
  template:
    metadata: {labels: {app: shared}}
    spec:
      initContainers:
      - name: prepare
        image: x
        volumeMounts: &mounts
        - name: data
          mountPath: /data
      containers:
      - name: a
        image: x
        volumeMounts: *mounts
      - name: b
        image: w
        volumeMounts: *mounts
      volumes:
      - name: data
        emptyDir: {}
`;

const ANCHOR_ON_MAIN = `apiVersion: v1
kind: Pod
metadata:
  name: anchor-on-main
spec:
  initContainers:
  - name: prepare
    image: x
    volumeMounts: *m
  containers:
  - name: a
    image: x
    volumeMounts: &m
    - {name: data, mountPath: /data}
  volumes: [{name: data, emptyDir: {}}]
`.replace("volumeMounts: *m\n  containers:\n  - name: a\n    image: x\n    volumeMounts: &m\n    - {name: data, mountPath: /data}", "volumeMounts: &m\n    - {name: data, mountPath: /data}\n  containers:\n  - name: a\n    image: x\n    volumeMounts: *m");

const MERGED = `apiVersion: v1
kind: Pod
metadata:
  name: merged
spec:
  containers:
  - &base
    name: a
    image: x
    volumeMounts:
    - {name: data, mountPath: /data}
  - <<: *base
    name: b
  volumes:
  - name: data
    emptyDir: {}
`;

describe("inject keeps the meaning of everything it does not add", () => {
  it("octal modes, booleans and number-like strings keep their meaning (0755 stays 0755, i.e. 493)", async () => {
    const r = await inject(OCTAL);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^          defaultMode: 0755$/m);
    const [out] = docs(r.stdout);
    const [inp] = docs(OCTAL);
    const spec = out.spec.template.spec;
    assert.equal(spec.volumes[0].configMap.defaultMode, 493);
    assert.equal(spec.volumes[0].configMap.optional, true);
    assert.deepEqual(spec.containers[0].env, inp.spec.template.spec.containers[0].env);
    assert.deepEqual(out.metadata, { name: "octal", labels: { app: "yes", tier: "0755" } });
    assert.deepEqual(removedLines(OCTAL, r.stdout), []);
    await assertSchemaValid(out);
  });

  it("a mount list shared through an alias is un-shared only where it changes: the init container keeps its list", async () => {
    const r = await inject(SHARED);
    assert.equal(r.status, 0, r.stderr);
    const spec = docs(r.stdout)[0].spec.template.spec;
    assert.deepEqual(spec.initContainers.find((c: Obj) => c.name === "prepare").volumeMounts, [{ name: "data", mountPath: "/data" }]);
    for (const c of spec.containers) assert.deepEqual(c.volumeMounts, [{ name: "data", mountPath: "/data" }, { name: "package-data", mountPath: "/shared-data", readOnly: true }]);
    assert.match(r.stderr, /Deployment\/shared: un-shared "volumeMounts: \*mounts"/);
    assert.match(r.stdout, /volumeMounts: &mounts/);
    // Only the two alias lines are replaced; everything else is kept.
    assert.deepEqual(removedLines(SHARED, r.stdout), ["        volumeMounts: *mounts", "        volumeMounts: *mounts"]);
    assertCrossRefs(spec);
    await assertSchemaValid(docs(r.stdout)[0]);
    const again = await inject(r.stdout);
    assert.equal(again.stdout, r.stdout);
  });

  it("with --mount-init every user of the shared list gets the mount: one insertion where it is anchored, aliases kept", async () => {
    const r = await inject(SHARED, ["--mount-init"]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(removedLines(SHARED, r.stdout), []);
    assert.equal(r.stdout.match(/volumeMounts: \*mounts/g)?.length, 2);
    assert.doesNotMatch(r.stderr, /un-shared/);
    const spec = docs(r.stdout)[0].spec.template.spec;
    assert.deepEqual(spec.initContainers.map((c: Obj) => c.name), ["download-package", "prepare"]);
    for (const c of [...spec.containers, spec.initContainers[1]]) assert.deepEqual(c.volumeMounts.map((m: Obj) => m.name), ["data", "package-data"]);
    assertCrossRefs(spec);
    await assertSchemaValid(docs(r.stdout)[0]);
  });

  it("main containers sharing one list: one insertion, the alias stays", async () => {
    const input = SHARED.replace(/      initContainers:\n      - name: prepare\n        image: x\n        volumeMounts: &mounts\n        - name: data\n          mountPath: \/data\n/, "").replace("        volumeMounts: *mounts\n", "        volumeMounts: &mounts\n        - name: data\n          mountPath: /data\n");
    assert.match(input, /&mounts/);
    const r = await inject(input);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(removedLines(input, r.stdout), []);
    const spec = docs(r.stdout)[0].spec.template.spec;
    for (const c of spec.containers) assert.deepEqual(c.volumeMounts.map((m: Obj) => m.name), ["data", "package-data"]);
    assert.match(r.stdout, /volumeMounts: \*mounts/);
    await assertSchemaValid(docs(r.stdout)[0]);
    assert.equal((await inject(r.stdout)).stdout, r.stdout);
  });

  it("an anchor on a main container's list: the init container that aliases it keeps its own list", async () => {
    const r = await inject(ANCHOR_ON_MAIN);
    assert.equal(r.status, 0, r.stderr);
    const spec = docs(r.stdout)[0].spec;
    assert.deepEqual(spec.initContainers.find((c: Obj) => c.name === "prepare").volumeMounts, [{ name: "data", mountPath: "/data" }]);
    assert.deepEqual(spec.containers[0].volumeMounts.map((m: Obj) => m.name), ["data", "package-data"]);
    assert.match(r.stderr, /un-shared/);
    await assertSchemaValid(docs(r.stdout)[0]);
  });

  it("a list that comes through a merge key (<<) is written out in the merging map; the merged-from map is untouched", async () => {
    const r = await inject(MERGED);
    assert.equal(r.status, 0, r.stderr);
    const spec = docs(r.stdout)[0].spec;
    assert.deepEqual(spec.containers.map((c: Obj) => c.volumeMounts.map((m: Obj) => m.name)), [["data", "package-data"], ["data", "package-data"]]);
    assert.equal(spec.containers[1].name, "b");
    assert.match(r.stderr, /merge key/);
    assert.deepEqual(removedLines(MERGED, r.stdout), []);
    await assertSchemaValid(docs(r.stdout)[0]);
  });
});

const STYLED = [
  "# header comment\r\n",
  "apiVersion: \"apps/v1\"\r\n",
  "kind: 'Deployment'\r\n",
  "metadata:\r\n",
  "    name: styled   # trailing comment\r\n",
  "spec:\r\n",
  "    selector: {matchLabels: {app: styled}}\r\n",
  "    template:\r\n",
  "        metadata: {labels: {app: styled}}\r\n",
  "        spec:\r\n",
  "            initContainers: []\r\n",
  "            containers:\r\n",
  "                -   name: app\r\n",
  "                    image: \"x:1\"\r\n",
  "                    args: [\"--a\", '--b']\r\n",
  "                    # a comment between keys\r\n",
  "                    ports:\r\n",
  "                        - containerPort: 8080\r\n",
].join("");

describe("inject writes only insertions", () => {
  it("CRLF, four-space indentation, quotes, comments and flow lists are kept; `[]` becomes a block", async () => {
    const r = await inject(STYLED);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(removedLines(STYLED, r.stdout), ["            initContainers: []"]);
    assert.doesNotMatch(r.stdout.replace(/\r\n/g, ""), /\n/, "every line ends with CRLF");
    assert.match(r.stdout, /^            initContainers:\r\n                - name: download-package\r\n/m);
    assert.match(r.stdout, /^                    volumeMounts:\r\n                        - name: package-data\r\n/m);
    const [out] = docs(r.stdout);
    assertContract(out.spec.template.spec, { image: IMAGE });
    await assertSchemaValid(out);
  });

  it("the style of the pod spec wins over the style elsewhere in the document", async () => {
    const input = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: mixed\n  finalizers:\n    - example.com/indented\nspec:\n  containers:\n  - name: a\n    image: x\n    ports:\n    - containerPort: 80\n";
    const r = await inject(input);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^    volumeMounts:\n    - name: package-data\n/m);
    assert.match(r.stdout, /^  volumes:\n  - name: package-data\n/m);
    assert.deepEqual(removedLines(input, r.stdout), []);
  });

  it("a flow-style workload gets flow-style insertions on its own lines", async () => {
    const r = await inject(ALL_KINDS);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /containers: \[\{name: a, image: x, volumeMounts: \[\{name: package-data, mountPath: \/shared-data, readOnly: true\}\]\}\]/);
    for (const o of docs(r.stdout)) await assertSchemaValid(o);
  });
});

const LABELLED = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {app: web, tier: front}}
spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: a, image: x}]}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, labels: {app: db, tier: back}}
spec: {template: {spec: {containers: [{name: a, image: x}]}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: prod}
spec: {schedule: "@daily", jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}}}
`;

describe("inject chooses its workloads", () => {
  const cases: [string[], string[]][] = [
    [[], ["Deployment/web", "StatefulSet/db", "CronJob/nightly"]],
    [["--select", "deploy/web"], ["Deployment/web"]],
    [["--select", "STS/db", "--select", "cronjobs/nightly"], ["StatefulSet/db", "CronJob/nightly"]],
    [["--select", "Deployment.apps/web"], ["Deployment/web"]],
    [["--select", "cronjobs.v1.batch/nightly"], ["CronJob/nightly"]],
    [["-l", "app=web"], ["Deployment/web"]],
    [["--selector", "tier!=front"], ["StatefulSet/db", "CronJob/nightly"]],
    [["-l", "tier in (front, back),app notin (db)"], ["Deployment/web"]],
    [["-l", "tier"], ["Deployment/web", "StatefulSet/db"]],
    [["-l", "!tier"], ["CronJob/nightly"]],
    [["-l", "app==db"], ["StatefulSet/db"]],
    [["--namespace", "prod"], ["Deployment/web", "CronJob/nightly"]],
    [["-n", "default"], ["StatefulSet/db"]],
    [["-n", "prod", "-l", "app"], ["Deployment/web"]],
  ];
  for (const [args, expected] of cases) {
    it(`${args.join(" ") || "(all)"} → ${expected.join(", ")}`, async () => {
      const r = await inject(LABELLED, args);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), `injected the init container into ${expected.join(", ")}`);
      const changed = docs(r.stdout).filter((o) => JSON.stringify(o).includes("download-package")).map((o) => `${o.kind}/${o.metadata.name}`);
      assert.deepEqual(changed, expected);
    });
  }

  it("a --select that matches nothing, an unknown kind or a bad selector is exit 2 with the reason", async () => {
    for (const [args, msg] of [
      [["--select", "deploy/nope"], /--select deploy\/nope: no such workload/],
      [["--select", "svc/web"], /svc is not a workload kind/],
      [["--select", "web"], /is not KIND\/NAME/],
      [["-l", "app in (a"], /-l "app in \(a"/],
    ] as [string[], RegExp][]) {
      const r = await inject(LABELLED, args);
      assert.equal(r.status, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  });
});

const LISTS = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: svc}
  spec: {ports: [{port: 80}]}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: in-list}
  spec:
    selector: {matchLabels: {app: x}}
    template:
      metadata: {labels: {app: x}}
      spec:
        containers:
        - name: a
          image: x
---
apiVersion: v1
kind: PodList
items:
- metadata: {name: typed-item}
  spec:
    containers:
    - name: a
      image: x
`;

describe("inject handles List documents", () => {
  it("kind: List and typed *List items are injected like documents; the Service is untouched", async () => {
    const r = await inject(LISTS);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /into Deployment\/in-list, Pod\/typed-item/);
    const [list, podList] = docs(r.stdout);
    assert.deepEqual(list.items[0], docs(LISTS)[0].items[0]);
    assertContract(list.items[1].spec.template.spec, { image: IMAGE });
    assertContract(podList.items[0].spec, { image: IMAGE });
    await assertSchemaValid(list.items[1]);
    await assertSchemaValid(podList.items[0], "Pod");
    assert.deepEqual(removedLines(LISTS, r.stdout), []);
    assert.equal((await inject(r.stdout)).stdout, r.stdout);
  });
});

describe("inject options", () => {
  it("--size-limit, --image-pull-secret, --requests/--limits, --env and --mount-init", { skip: !CORPUS && "the corpus is not here" }, async () => {
    const src = fs.readFileSync(path.join(CORPUS, "k8s-website-mysql-statefulset.yaml"), "utf8");
    const args = ["--size-limit", "2Gi", "--image-pull-secret", "private-registry", "--image-pull-secret", "other", "--requests", "cpu=50m,memory=64Mi", "--limits", "memory=256Mi,ephemeral-storage=1Gi", "--env", "PACKAGE_STRIP_COMPONENTS=1", "--env", "https_proxy=http://proxy.example.internal:3128", "--mount-init"];
    const r = await inject(src, args);
    assert.equal(r.status, 0, r.stderr);
    const [sts] = docs(r.stdout).filter((o) => o.kind === "StatefulSet");
    const spec = sts.spec.template.spec;
    const init = assertContract(spec, { image: IMAGE });
    assert.deepEqual(spec.volumes.find((v: Obj) => v.name === "package-data").emptyDir, { sizeLimit: "2Gi" });
    assert.deepEqual(spec.imagePullSecrets, [{ name: "private-registry" }, { name: "other" }]);
    assert.deepEqual(init.resources, { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi", "ephemeral-storage": "1Gi" } });
    assert.deepEqual(init.env.slice(2), [{ name: "PACKAGE_STRIP_COMPONENTS", value: "1" }, { name: "https_proxy", value: "http://proxy.example.internal:3128" }]);
    assert.equal(spec.initContainers[0].name, "download-package", "ours runs first");
    for (const c of spec.initContainers.slice(1)) assert.ok(c.volumeMounts.some((m: Obj) => m.name === "package-data" && m.readOnly === true), `${c.name} mounts the package`);
    assertCrossRefs(spec, sts.spec.volumeClaimTemplates.map((t: Obj) => t.metadata.name));
    await assertSchemaValid(sts);
    const again = await inject(r.stdout, args);
    assert.equal(again.stdout, r.stdout);
  });

  it("refuses, with exit 2 and a suggestion, what the init container would refuse", async () => {
    for (const [args, msg] of [
      [["--env", "PACKAGE_STRIP_COMPONENT=1"], /download-package does not read PACKAGE_STRIP_COMPONENT.*did you mean PACKAGE_STRIP_COMPONENTS\?/s],
      [["--env", "HTTPS_PROXI=http://p:3128"], /did you mean HTTPS_PROXY\?/],
      [["--env", "PACKAGE_URL=https://x/y"], /--env PACKAGE_URL is set by --package-url/],
      [["--env", "PACKAGE_RETRIES=many"], /PACKAGE_RETRIES: "many" is not an integer/],
      [["--package-url", "ftp://files.example.internal/p.tar.gz"], /PACKAGE_URL must be http or https, not ftp/],
      [["--sha256", "abc"], /PACKAGE_SHA256 is not a SHA-256 or SHA-512 digest/],
      [["--requests", "cpu=lots"], /--requests cpu: "lots" is not a Kubernetes quantity/],
      [["--size-limit", "2 GB"], /--size-limit/],
      [["--dest", "/elsewhere"], /--dest \/elsewhere is not inside --mount-path/],
      [["--image-pull-policy", "Sometimes"], /Always, IfNotPresent or Never/],
    ] as [string[], RegExp][]) {
      const r = await inject(ALL_KINDS, args);
      assert.equal(r.status, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stdout, "", "nothing written");
    }
  });

  it("a URL with credentials is written as asked, with a warning pointing to --url-secret", async () => {
    const r = await inject(ALL_KINDS, ["--package-url", "https://u:p@files.example.internal/p.tar.gz"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: --package-url carries credentials .*--url-secret/);
  });

  it("a volume or container name already used for something else is exit 2, naming the workload", async () => {
    const clash = ALL_KINDS.split("---\n")[0].replace("containers: [{name: a, image: x}]", "containers: [{name: a, image: x}]\n  volumes: [{name: package-data, configMap: {name: c}}]");
    const r = await inject(clash);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /Pod\/p: the pod already has a volume named package-data of another type.*--volume-name/);
    const mountClash = ALL_KINDS.split("---\n")[0].replace("{name: a, image: x}", "{name: a, image: x, volumeMounts: [{name: other, mountPath: /shared-data}]}");
    const m = await inject(mountClash);
    assert.equal(m.status, 2);
    assert.match(m.stderr, /container a already mounts volume other at \/shared-data/);
  });
});


/** The data with every part inject adds taken out again. */
function withoutInjected(o: Obj): Obj {
  const strip = (spec: Obj) => {
    const drop = (key: string, keep: (x: Obj) => boolean) => {
      if (!Array.isArray(spec[key])) return;
      spec[key] = spec[key].filter(keep);
      if (!spec[key].length) delete spec[key];
    };
    drop("initContainers", (c) => c.name !== "download-package");
    drop("volumes", (v) => v.name !== "package-data");
    drop("imagePullSecrets", (v) => v.name !== "corpus-pull");
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      if (!Array.isArray(c.volumeMounts)) continue;
      c.volumeMounts = c.volumeMounts.filter((m: Obj) => m.name !== "package-data");
      if (!c.volumeMounts.length) delete c.volumeMounts;
    }
  };
  const copy = JSON.parse(JSON.stringify(o ?? null));
  const visit = (x: Obj | undefined) => {
    if (!x || typeof x !== "object") return;
    if (x.kind?.endsWith?.("List") && Array.isArray(x.items)) return x.items.forEach(visit);
    const path = { Pod: ["spec"], CronJob: ["spec", "jobTemplate", "spec", "template", "spec"] }[x.kind as string] ?? ["spec", "template", "spec"];
    const spec = path.reduce((y: Obj | undefined, k) => y?.[k], x);
    if (spec?.containers) strip(spec);
  };
  visit(copy);
  return copy;
}

describe("inject on real-world manifests", { skip: !CORPUS && "the corpus is not here (set DP_CORPUS)" }, () => {
  const variants: [string, string[]][] = [
    ["", []],
    [" (--mount-init and every pod option)", ["--mount-init", "--size-limit", "1Gi", "--image-pull-secret", "corpus-pull", "--requests", "cpu=10m,memory=32Mi", "--limits", "memory=64Mi", "--env", "PACKAGE_STRIP_COMPONENTS=1"]],
  ];
  for (const [variant, args] of variants)
  for (const file of CORPUS ? fs.readdirSync(CORPUS).filter((f) => f.endsWith(".yaml")).sort() : []) {
    it(file + variant, async () => {
      const input = fs.readFileSync(path.join(CORPUS, file), "utf8");
      const r = await inject(input, args);
      assert.equal(r.status, 0, r.stderr);
      const before = docs(input);
      const after = docs(r.stdout);
      assert.equal(after.length, before.length);
      // Means exactly the input plus the injected parts.
      assert.deepEqual(after.map(withoutInjected), before.map(withoutInjected));
      // Every changed workload is valid for the API server and its references hold.
      const items = after.flatMap((o) => (o?.kind?.endsWith("List") ? o.items : [o])).filter((o) => o && JSON.stringify(o).includes('"download-package"'));
      for (const o of items) {
        await assertSchemaValid(o);
        const spec = o.kind === "Pod" ? o.spec : o.kind === "CronJob" ? o.spec.jobTemplate.spec.template.spec : o.spec.template.spec;
        assertContract(spec, { image: IMAGE });
        assertCrossRefs(spec, (o.spec.volumeClaimTemplates ?? []).map((t: Obj) => t.metadata.name));
      }
      // Only insertions: no input line is lost (comments included), except un-shared aliases.
      const removed = removedLines(input, r.stdout);
      assert.ok(removed.every((l) => /: \*[\w-]+\s*$/.test(l)), `removed lines: ${removed.join("\n")}`);
      for (const c of input.match(/#.*/g) ?? []) assert.ok(r.stdout.includes(c), `comment kept: ${c}`);
      assert.equal(r.stdout.includes("\r\n"), input.includes("\r\n"), "line endings kept");
      // Idempotent: a second run writes the same bytes.
      const again = await inject(r.stdout, args);
      assert.equal(again.status, 0, again.stderr);
      assert.equal(again.stdout, r.stdout);
    });
  }
});

describe("inject on hostile or broken input", () => {
  it("exit 2 with the reason, never a stack trace, and nothing written", async () => {
    const bomb = ["apiVersion: v1", "kind: Pod", "metadata: {name: bomb}", "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (let i = 1; i < 9; i++) bomb.push(`x${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]`);
    bomb.push("spec: {containers: [{name: a, image: x}]}");
    for (const [input, msg] of [
      [bomb.join("\n") + "\n", /YAML error in the document at line 1: .*alias/i],
      ["apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: x}]\n  volumes:\n    data: {emptyDir: {}}\n", /Pod\/p: spec.volumes is not a list/],
      ["apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: x, volumeMounts: oops}]\n", /Pod\/p: spec.containers\[a\].volumeMounts is not a list/],
      ["---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: x}]}\n---\nkind: Pod\nmetadata: {name: q, name: r}\n", /YAML error in the document at line 6/],
      ["apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: download-package, image: x}]\n", /a main container is already named download-package/],
    ] as [string, RegExp][]) {
      const r = await inject(input);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, msg);
      assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
      assert.equal(r.stdout, "");
    }
  });

  it("a %YAML directive, a ... end marker and a comment-only document", async () => {
    const input = "%YAML 1.1\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: x\n...\n---\n# only a comment\n---\n";
    const r = await inject(input);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(removedLines(input, r.stdout), []);
    assertContract(docs(r.stdout)[0].spec, { image: IMAGE });
  });

  it("odd but valid shapes: null lists, `{}` where a list is empty, a key on its own", async () => {
    const input = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers:\n  volumes: ~\n  containers:\n  - name: a\n    image: x\n    volumeMounts: []   # none yet\n";
    const r = await inject(input);
    assert.equal(r.status, 0, r.stderr);
    const [pod] = docs(r.stdout);
    assertContract(pod.spec, { image: IMAGE });
    await assertSchemaValid(pod);
    assert.match(r.stdout, /^    volumeMounts: +# none yet\n    - name: package-data\n/m);
    assert.equal((await inject(r.stdout)).stdout, r.stdout);
  });
});

describe("inject output", () => {
  it("reaches a slow reader whole (the program waits for it rather than exit with output pending)", { timeout: 60_000 }, async () => {
    const input = Array.from({ length: 30 }, (_, i) => ALL_KINDS.replace(/name: (p|d|s|ds|rs|j|cj)}/g, `name: $1-${i}}`)).join("---\n");
    const [cmd, argv] = command(["inject", "--package-url", URL, "--image", IMAGE]);
    const child = spawn(cmd, argv, { env: cleanEnv(), stdio: ["pipe", "pipe", "ignore"] });
    const exited = new Promise((r) => child.on("exit", r));
    child.stdin.end(input);
    // The first bytes come when the whole output is ready; then stop reading for longer than
    // the program's exit grace period (200 ms), as a slow consumer (kubectl over a slow link) does.
    const first: Buffer = await new Promise((r) => child.stdout.once("data", r));
    child.stdout.pause();
    await new Promise((r) => setTimeout(r, 1500));
    const chunks: Buffer[] = [first];
    child.stdout.on("data", (d) => chunks.push(d));
    child.stdout.resume();
    await new Promise((r) => child.stdout.on("end", r));
    assert.equal(await exited, 0);
    const out = Buffer.concat(chunks).toString();
    assert.ok(out.length > 2 * 65536, `more than a pipe buffer (${out.length})`);
    assert.equal(docs(out).length, 30 * 7);
  });
});

describe("inject on the corpus written in other styles", { skip: !CORPUS && "the corpus is not here" }, () => {
  const options = (mountInit: boolean): InjectOptions => ({ image: IMAGE, packageUrl: URL, containerName: "download-package", volumeName: "package-data", mountPath: "/shared-data", env: [], imagePullSecrets: [], mountInit, selection: { select: [], selector: [] } });

  /** Re-write a stream: another layout, or every container's mounts shared through one alias. */
  function restyle(text: string, style: string): string {
    const all = parseAllDocuments(text, { version: "1.1" });
    if (style === "shared-mounts")
      all.forEach((d, i) => {
        for (const w of findWorkloads(d.toJS())) {
          const spec = d.getIn(w.specPath, true) as YAMLMap;
          const cs = ["initContainers", "containers"].flatMap((k) => (spec.get(k, true) as YAMLSeq | undefined)?.items ?? []).filter(isMap).sort((a, b) => a.range![0] - b.range![0]);
          const first = cs.findIndex((c) => isSeq(c.get("volumeMounts", true)));
          if (first < 0) continue;
          const src = cs[first].get("volumeMounts", true) as unknown as YAMLSeq;
          src.anchor = `m${i}-${w.name}`;
          for (const c of cs.slice(first + 1)) c.set("volumeMounts", d.createAlias(src));
        }
      });
    const opts = { flow: { collectionStyle: "flow", lineWidth: 60 }, "indent-4": { indent: 4 }, "unindented-lists": { indentSeq: false }, "shared-mounts": {} }[style];
    return all.map((d) => d.toString(opts as object)).join("---\n");
  }

  for (const style of ["flow", "indent-4", "unindented-lists", "shared-mounts"]) {
    it(style, async () => {
      for (const file of fs.readdirSync(CORPUS).filter((f) => f.endsWith(".yaml") && !f.startsWith("argo-cd-install"))) {
        for (const mountInit of style === "shared-mounts" ? [false, true] : [true]) {
          const input = restyle(fs.readFileSync(path.join(CORPUS, file), "utf8"), style);
          const r = injectText(input, options(mountInit));
          assert.equal(injectText(r.text, options(mountInit)).text, r.text, `${file}: idempotent`);
          if (style === "shared-mounts" && mountInit) assert.deepEqual(r.notes, [], `${file}: every user of a shared list gets the mount, so nothing is un-shared`);
          for (const o of docs(r.text).flatMap((x) => (x?.kind?.endsWith("List") ? x.items : [x]))) {
            if (!o || !JSON.stringify(o).includes('"download-package"')) continue;
            await assertSchemaValid(o);
          }
        }
      }
    });
  }
});
