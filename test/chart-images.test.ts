// images list --chart: the built-in renderer must give exactly what the real `helm template` gives
// (helm v4 from the test dependency), on fixture charts in the shapes real charts use: appVersion
// defaults with and without "v", an aliased subchart (with import-values), a disabled one, a library
// chart, a .tgz subchart, global registry precedence, registry/namespace/name split, digest-only, tag with digest,
// a numeric tag, null deleting a default, several -f files, --set/--set-string.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseAllDocuments } from "yaml";
import { k8sTool } from "./helpers/k8s-tools.ts";
import { ROOT, runDp, TARGET, tmpdir } from "./helpers/run.ts";

const FIXTURES = path.join(ROOT, "test/charts");
const SEA = !TARGET.endsWith(".cjs");

interface Entry {
  ref: string;
  disabled?: string;
  test?: boolean;
  sources: { file: string; path: string; chart?: string; template?: string; values?: string[] }[];
}

let work: string;
let shop: string;
let helm: string;

/** The fixture with charts/metrics packed as metrics-0.3.1.tgz, as `helm dependency build` leaves it. */
function prepare(): void {
  work = tmpdir("dp-chart-");
  shop = path.join(work, "shop");
  fs.cpSync(path.join(FIXTURES, "shop"), shop, { recursive: true });
  execFileSync("tar", ["-czf", path.join(shop, "charts/metrics-0.3.1.tgz"), "-C", path.join(shop, "charts"), "metrics"]);
  fs.rmSync(path.join(shop, "charts/metrics"), { recursive: true });
  helm = k8sTool("helm");
}

async function list(args: string[], env: Record<string, string> = {}) {
  const r = await runDp(env, ["images", "list", "--json", ...args], { timeoutMs: 120_000 });
  const entries = r.code === 0 ? (JSON.parse(r.stdout) as Entry[]) : [];
  return { ...r, entries, refs: entries.map((e) => e.ref) };
}

const v = (f: string) => path.join(FIXTURES, f);

describe("images list --chart", () => {
  before(prepare);
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  test("default install: exactly the images helm template gives, each with where it came from", async () => {
    const r = await list(["--chart", shop, "--render", "builtin"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.refs, [
      "docker.io/acme/legacy:1.1",
      "docker.io/acme/migrate@sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904b825dc642cb6eb9a060e54b",
      "docker.io/acme/shop:v2.4.1",
      "docker.io/bitnami/kubectl:1.35",
      "docker.io/bitnami/redis-cli:7.2",
      "docker.io/bitnami/redis:7.2.4",
      "docker.io/jenkins/inbound-agent:3256.v88a_f6e922152-1",
      "docker.io/library/busybox:1.36@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
      "docker.io/library/nginx:1.27.0",
      "quay.io/acme/worker:1.10",
      "quay.io/prometheus-operator/prometheus-config-reloader:v0.75.0",
      "quay.io/prometheus-operator/prometheus-operator:v0.75.0",
      "quay.io/prometheus/prometheus:v2.53.0",
      "registry.k8s.io/kube-state-metrics/kube-state-metrics:v0.15.0",
    ]);
    const helmRun = await list(["--chart", shop, "--render", "helm"], { HELM_BIN: helm });
    assert.equal(helmRun.code, 0, helmRun.stderr);
    assert.deepEqual(r.refs, helmRun.refs, "builtin and helm template disagree");
    const by = (repo: string) => r.entries.find((e) => e.ref.startsWith(`${repo}:`) || e.ref.startsWith(`${repo}@`))!;
    // Where: chart (the alias, as helm names it), template, values path.
    assert.equal(by("docker.io/bitnami/redis").sources[0].file, "shop/charts/sessioncache/templates/statefulset.yaml");
    assert.ok(by("docker.io/bitnami/redis").sources[0].values?.includes("sessioncache.image.repository"));
    assert.ok(by("docker.io/acme/shop").sources[0].values?.includes("shop Chart.yaml appVersion"));
    assert.deepEqual(by("quay.io/acme/worker").sources[0].values, ["worker.image.name", "worker.image.namespace", "worker.image.registry", "worker.image.tag"]);
    assert.ok(by("quay.io/prometheus-operator/prometheus-config-reloader").sources[0].path.includes("--prometheus-config-reloader"));
    // Not images: NOTES.txt, the library chart's non-partial template, a disabled subchart, the test hook, `alwaysPullImage: false`.
    assert.doesNotMatch(r.stdout, /notthis|never|elasticsearch|false/);
    // The numeric tag and the artifacthub.io/images differences are warnings on stderr.
    assert.match(r.stderr, /values legacy\.image\.tag is the YAML number 1\.10, which helm renders as 1\.1/);
    assert.match(r.stderr, /artifacthub\.io\/images lists docker\.io\/acme\/gone:1\.0, which the rendered chart does not pull/);
    assert.match(r.stderr, /pulls registry\.k8s\.io\/kube-state-metrics\/kube-state-metrics:v0\.15\.0, which Chart\.yaml artifacthub\.io\/images does not list/);
  });

  const scenarios: [string, string[]][] = [
    ["several -f files, null deleting a default, --set and --set-string", ["-f", v("values-prod.yaml"), "-f", v("values-null.yaml"), "--set", "proxy.image.tag=1.27.1,metrics.enabled=false", "--set-string", "worker.image.tag=2.0"]],
    ["global.imageRegistry over every image.registry, through the subcharts", ["--set", "global.imageRegistry=mirror.example.internal"]],
    ["tags decide when no condition path resolves", ["--set", "tags.monitoring=false", "--set", "global.metrics.enabled=null"]],
    ["a condition that resolves wins over tags", ["--set", "tags.monitoring=false"]],
    ["conditions switch subcharts on and off (aliased name)", ["--set", "sessioncache.enabled=false,search.enabled=true"]],
    ["escaped dots and list indexes in --set", ["--set", "proxy.extraArgs[0]=--sidecar-image=docker.io/envoyproxy/envoy:v1.30.1", "--set", "podAnnotations.example\\.com/x=1"]],
    ["--kube-version and --api-versions as helm takes them", ["--kube-version", "1.29.3", "--api-versions", "snapshot.storage.k8s.io/v1"]],
    ["--release-name and --namespace", ["--release-name", "prod", "--namespace", "shop-prod"]],
    ["a YAML number given with --set", ["--set", "worker.image.tag=1.10"]],
  ];
  for (const [name, args] of scenarios) {
    test(`builtin = helm template: ${name}`, async () => {
      const [b, h] = await Promise.all([list(["--chart", shop, "--render", "builtin", ...args]), list(["--chart", shop, "--render", "helm", ...args], { HELM_BIN: helm })]);
      assert.equal(b.code, 0, b.stderr);
      assert.equal(h.code, 0, h.stderr);
      assert.ok(b.refs.length >= 8, b.stdout);
      assert.deepEqual(b.refs, h.refs);
    });
  }

  test("the scenarios change the list as helm does (the comparisons above are not vacuous)", async () => {
    const r = await list(["--chart", shop, "--render", "builtin", "-f", v("values-prod.yaml"), "-f", v("values-null.yaml"), "--set", "proxy.image.tag=1.27.1,metrics.enabled=false"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.refs.includes("registry.example.internal:5000/acme/migrate:3.0"), "null deleted the digest, the tag took over");
    assert.ok(r.refs.includes("registry.example.internal:5000/acme/worker:1.11"), "registry: null fell back to global.imageRegistry");
    assert.ok(r.refs.includes("registry.example.internal:5000/bitnami/redis-exporter:1.62.0"), "subchart value set under the alias");
    assert.ok(r.refs.includes("docker.io/envoyproxy/envoy:v1.30.1"), "image in a container flag");
    assert.ok(r.refs.includes("docker.io/library/nginx:1.27.1"));
    assert.ok(!r.refs.some((x) => x.includes("kube-state-metrics")), "metrics.enabled=false disabled the .tgz subchart");
    const tags = await list(["--chart", shop, "--render", "builtin", "--set", "tags.monitoring=false", "--set", "global.metrics.enabled=null"]);
    assert.ok(!tags.refs.some((x) => x.includes("kube-state-metrics")), tags.stdout);
    const kube = await list(["--chart", shop, "--render", "builtin", "--kube-version", "1.29.3", "--api-versions", "snapshot.storage.k8s.io/v1"]);
    assert.ok(kube.refs.includes("docker.io/bitnami/kubectl:1.29") && kube.refs.includes("registry.k8s.io/sig-storage/snapshot-controller:v8.0.1"), kube.stdout);
  });

  test("several --chart in one process: the union, each image with its own chart", async () => {
    const both = await list(["--chart", shop, "--chart", path.join(ROOT, "deploy/helm"), "--render", "builtin"]);
    const one = await list(["--chart", shop, "--render", "builtin"]);
    assert.equal(both.code, 0, both.stderr);
    assert.deepEqual(both.refs, [...one.refs, "registry.example.internal/app:1.0.0", "registry.example.internal/package-init-container:0.1.0"].sort());
    assert.equal(both.entries.find((e) => e.ref === "registry.example.internal/app:1.0.0")?.sources[0].chart, "app-with-package");
    assert.equal(both.stderr.match(/YAML number 1\.10/g)?.length, 1, both.stderr);
  });

  test("a chart .tgz (helm package) gives the same list as its directory", async () => {
    const tgz = path.join(work, "shop-1.2.0.tgz");
    execFileSync(helm, ["package", shop, "--destination", work]);
    const a = await list(["--chart", tgz, "--render", "builtin"]);
    const d = await list(["--chart", shop, "--render", "builtin"]);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(a.refs, d.refs);
  });

  test("--all adds disabled subcharts' and helm test images, marked", async () => {
    const r = await list(["--chart", shop, "--render", "builtin", "--all"]);
    assert.equal(r.code, 0, r.stderr);
    const es = r.entries.find((e) => e.ref === "docker.elastic.co/elasticsearch/elasticsearch:8.14.1");
    assert.match(es?.disabled ?? "", /shop\/charts\/search: condition search\.enabled is false/);
    assert.equal(r.entries.find((e) => e.ref === "docker.io/library/busybox:1.36")?.test, true);
    assert.equal(r.entries.find((e) => e.ref === "docker.io/acme/shop:v2.4.1")?.disabled, undefined);
    const text = await runDp({}, ["images", "list", "--chart", shop, "--render", "builtin", "--all"]);
    assert.match(text.stdout, /elasticsearch:8\.14\.1 +\[disabled: shop\/charts\/search: condition search\.enabled is false\]/);
  });

  test("a missing tag is a warning naming the values path; an empty tag is never printed", async () => {
    const r = await list(["--chart", shop, "--render", "builtin", "--set", "sidecar.image=busybox", "--set", "proxy.image.tag="]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.refs.includes("docker.io/library/busybox:latest"));
    assert.match(r.stderr, /busybox:latest: .*gives no tag, so the cluster pulls :latest \(values sidecar\.image\)/);
    assert.ok(!r.refs.some((x) => x.includes("nginx")), r.stdout);
    assert.match(r.stderr, /image "nginx:" has an empty tag or name/);
  });

  test("auto renders with helm when it is on PATH, with the built-in engine when not", async () => {
    const bin = path.join(work, "bin");
    fs.mkdirSync(bin, { recursive: true });
    const marker = path.join(work, "helm-ran");
    fs.writeFileSync(path.join(bin, "helm"), `#!/bin/sh\ntouch '${marker}'\nexec '${helm}' "$@"\n`, { mode: 0o755 });
    const withHelm = await list(["--chart", shop], { PATH: `${bin}:${process.env.PATH}` });
    assert.equal(withHelm.code, 0, withHelm.stderr);
    assert.ok(fs.existsSync(marker), "helm was not used");
    fs.rmSync(marker);
    const without = await list(["--chart", shop], { PATH: "/usr/bin:/bin" });
    assert.equal(without.code, 0, without.stderr);
    assert.ok(!fs.existsSync(marker));
    assert.deepEqual(without.refs, withHelm.refs);
    const forced = await list(["--chart", shop, "--render", "helm"], { PATH: "/usr/bin:/bin" });
    assert.equal(forced.code, 2);
    assert.match(forced.stderr, /no helm on PATH/);
  });

  test("bad input is exit 2 with one line, never a stack trace", async () => {
    const cases: [string[], RegExp][] = [
      [[], /no input/],
      [["--chart", path.join(work, "nope")], /no such file or directory/],
      [["--chart", FIXTURES], /no Chart\.yaml/],
      [["--chart", shop, "--render", "builtin", "--set", "legacy=null"], /deployment\.yaml/],
      [["--chart", shop, "--render", "builtin", "--set", "a[x]=1"], /--set/],
      [["--chart", shop, "--render", "builtin", "-f", path.join(work, "missing.yaml")], /cannot read values file/],
      [["--chart", shop, "--render", "sometimes"], /--render must be/],
      [["--chart", shop, "--render", "builtin", "--kube-version", "one"], /invalid --kube-version/],
    ];
    for (const [args, want] of cases) {
      const r = await runDp({}, ["images", "list", ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    const broken = path.join(work, "broken.yaml");
    fs.writeFileSync(broken, "a: [1\n");
    const r = await runDp({}, ["images", "list", "--chart", shop, "--render", "builtin", "-f", broken]);
    assert.equal(r.code, 2, r.stderr);
    // helm fails the same way on the same template error.
    const h = await runDp({ HELM_BIN: helm }, ["images", "list", "--chart", shop, "--render", "helm", "--set", "legacy=null"]);
    assert.equal(h.code, 2, h.stderr);
  });

  test("--render builtin in a build without the engine says so (exit 2)", { skip: SEA ? "the executable carries the engine inside" : false }, async () => {
    const empty = tmpdir("dp-chart-noengine-");
    const r = await runDp({ DP_CHART_ENGINE_DIR: empty }, ["images", "list", "--chart", shop, "--render", "builtin"]);
    fs.rmSync(empty, { recursive: true });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /built-in chart renderer is not in this build/);
  });
});

describe("images in rendered manifests (pure)", () => {
  test("containers of every kind, operator resources, flags, env, ConfigMaps; never a non-reference", async () => {
    const { extractImages } = await import("../src/images/chart/extract.ts");
    const { parseImageRef, formatImageRef } = await import("../src/images/refs.ts");
    const content = `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  ephemeralContainers: [{name: debug, image: "busybox:1.36"}]
  initContainers: [{name: init, image: "quay.io/org/init:v1", imagePullPolicy: Always}]
  containers:
    - name: main
      image: registry.example.internal:5000/team/app@sha256:${"c".repeat(64)}
      args: ["--acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:v1.15.0", "--port=8080", "--log-level=info"]
      env:
        - {name: RELATED_IMAGE_DB, value: "docker.io/library/postgres:16"}
        - {name: ALWAYS_PULL_IMAGE, value: "false"}
        - {name: MODE, value: "fast"}
---
apiVersion: monitoring.coreos.com/v1
kind: Alertmanager
metadata: {name: am}
spec: {image: quay.io/prometheus/alertmanager, version: v0.27.0}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: agents}
data:
  config.yaml: |
    jenkins:
      agentImage: "jenkins/inbound-agent:3256.v88a_f6e922152-1"
      alwaysPullImage: false
      imagePullPolicy: IfNotPresent
  defaultImage: alpine/git:2.45.2
  notes: "an image of the cluster"
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec:
  versions:
    - name: v1
      schema:
        openAPIV3Schema:
          properties:
            image: {type: string, description: "The image to run"}
`;
    const { hits, problems } = extractImages([{ name: "c/templates/all.yaml", content }]);
    assert.deepEqual(problems, []);
    assert.deepEqual([...new Set(hits.map((h) => formatImageRef(h.image)))].sort(), [
      "docker.io/alpine/git:2.45.2",
      "docker.io/jenkins/inbound-agent:3256.v88a_f6e922152-1",
      "docker.io/library/busybox:1.36",
      "docker.io/library/postgres:16",
      "quay.io/jetstack/cert-manager-acmesolver:v1.15.0",
      "quay.io/org/init:v1",
      "quay.io/prometheus/alertmanager:v0.27.0",
      `registry.example.internal:5000/team/app@sha256:${"c".repeat(64)}`,
    ]);
    for (const s of ["false", "IfNotPresent", "Always", "nginx:", "http://x/y", "{{ .Values.image }}", "Upper/Case:1", ""]) assert.equal(parseImageRef(s), undefined, s);
  });
});

describe("built-in renderer output = helm template output, document by document", () => {
  // The engine itself (dist/chart-engine.wasm.gz, loaded as the program loads it), not just the images.
  const docs = (text: string) => text.split(/^---[ \t]*$/m).map((d) => d.replace(/^# Source:.*$/m, "").trim()).filter(Boolean).sort();
  const cases: [string, string, string[]][] = [
    ["probe: .Chart, .Release, .Capabilities, .Files, .Template, toYaml/toJson/toToml, numbers", "probe", []],
    ["probe with --set (numbers, null, list index, --kube-version)", "probe", ["--set", "big=1e6,f=null,m.d[3]=z,m.c=x", "--kube-version", "1.29.3"]],
    ["shop with two values files and --set", "shop", ["-f", v("values-prod.yaml"), "-f", v("values-null.yaml"), "--set", "search.enabled=true"]],
    ["deploy/helm with the import hook", path.join(ROOT, "deploy/helm"), ["--set", "imagePull.enabled=true", "--set", "imagePull.nodeCount=2"]],
  ];
  for (const [name, chart, args] of cases) {
    test(name, async () => {
      process.env.DP_CHART_ENGINE_DIR = path.join(ROOT, "dist");
      const { renderBuiltin } = await import("../src/images/chart/engine.ts");
      const { readChart } = await import("../src/images/chart/source.ts");
      const dir = path.isAbsolute(chart) ? chart : path.join(FIXTURES, chart);
      const want = docs(execFileSync(k8sTool("helm"), ["template", "release-name", dir, ...args], { maxBuffer: 1 << 26 }).toString());
      const flag = (f: string) => args.flatMap((a, i) => (args[i - 1] === f ? [a] : []));
      const src = readChart(dir);
      const resp = await renderBuiltin({
        files: src.files?.map((f) => ({ name: f.name, data: f.data.toString("base64") })),
        values: flag("-f").map((f) => ({ name: f, text: fs.readFileSync(f, "utf8") })),
        set: flag("--set"), setString: [], setJson: [], apiVersions: [], all: false, kubeVersion: flag("--kube-version")[0],
      });
      assert.equal(resp.error, undefined);
      const got = docs((resp.manifests ?? []).filter((m) => !m.name.endsWith("NOTES.txt")).map((m) => m.content).join("\n---\n"));
      assert.deepEqual(got, want);
    });
  }
});

describe("deploy/helm renders to valid Kubernetes objects", () => {
  test("helm template deploy/helm (hook on and off) passes the Kubernetes schemas", async () => {
    const helmBin = k8sTool("helm");
    const models: Record<string, (o: unknown) => { validate(): void }> = {};
    const load = async (apiVersion: string, kind: string) => {
      const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, new (o: unknown) => { validate(): void }>;
      return (o: unknown) => new mod[kind](o);
    };
    for (const set of [[], ["--set", "imagePull.enabled=true", "--set", "imagePull.nodeCount=3"]]) {
      const out = execFileSync(helmBin, ["template", "t", path.join(ROOT, "deploy/helm"), ...set]).toString();
      const docs = parseAllDocuments(out).map((d) => d.toJS()).filter(Boolean) as { apiVersion: string; kind: string }[];
      assert.ok(docs.length >= 1);
      for (const d of docs) {
        const key = `${d.apiVersion}/${d.kind}`;
        models[key] ??= await load(d.apiVersion, d.kind);
        assert.doesNotThrow(() => models[key](d).validate(), `${key} is not valid`);
      }
    }
  });
});
