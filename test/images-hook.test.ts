// The image-pull hook (issue 15, item 9): every selected node gets one importer Pod bound to
// it by name, from the node list read at run time, or the hook fails naming the node. The
// controller runs against a loopback HTTPS stub that answers like the API server (no API
// server can run here); the chart is rendered by the real helm and validated with
// kubernetes-models.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments, parse } from "yaml";
import { exclusion, podName, verdict, type Node } from "../src/images/hook-plan.ts";
import { makeCerts } from "./helpers/fixtures.ts";
import { k8sTool } from "./helpers/k8s-tools.ts";
import { ROOT, runDp, tmpdir } from "./helpers/run.ts";

const TOKEN = "hook-test-token";

const node = (name: string, o: { labels?: Record<string, string>; ready?: boolean; cordoned?: boolean; taints?: Node["spec"] extends infer S ? S extends { taints?: infer T } ? T : never : never } = {}): Node => ({
  metadata: { name, labels: { "kubernetes.io/hostname": name, pool: "app", ...o.labels } },
  spec: { unschedulable: o.cordoned, taints: o.taints },
  status: { conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }] },
});

describe("hook: which nodes, which Pods (pure)", () => {
  const tols = [{ key: "dedicated", operator: "Equal", value: "app", effect: "NoSchedule" }];
  it("selects Ready, schedulable, matching nodes whose taints are tolerated", () => {
    const sel = { pool: "app" };
    assert.equal(exclusion(node("a"), sel, tols), undefined);
    assert.match(exclusion(node("b", { cordoned: true }), sel, tols)!, /cordoned/);
    assert.match(exclusion(node("c", { ready: false }), sel, tols)!, /not Ready/);
    assert.match(exclusion(node("d", { labels: { pool: "gpu" } }), sel, tols)!, /nodeSelector pool=app/);
    assert.match(exclusion(node("e", { taints: [{ key: "gpu", value: "true", effect: "NoSchedule" }] }), sel, tols)!, /taint gpu=true:NoSchedule not tolerated/);
    assert.equal(exclusion(node("f", { taints: [{ key: "dedicated", value: "app", effect: "NoSchedule" }] }), sel, tols), undefined);
    assert.equal(exclusion(node("g", { taints: [{ key: "x", effect: "PreferNoSchedule" }] }), sel, tols), undefined);
    assert.equal(exclusion(node("h", { taints: [{ key: "x", effect: "NoExecute" }] }), sel, [{ operator: "Exists" }]), undefined);
  });
  it("Pod names stay within 63 characters and differ per node and per run", () => {
    const long = "a".repeat(63);
    const names = ["n1", "n2", "x".repeat(253)].map((n) => podName(long, "12", n));
    for (const n of names) assert.ok(n.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n), n);
    assert.equal(new Set(names).size, 3);
    assert.notEqual(podName("p", "1", "n1"), podName("p", "2", "n1"));
  });
  it("judges Pods: success, exit codes with their message, images that can never be pulled", () => {
    assert.deepEqual(verdict({ metadata: { name: "p" }, status: { phase: "Succeeded" } }), { done: true, ok: true, detail: "imported" });
    const failed = verdict({ metadata: { name: "p" }, status: { phase: "Failed", containerStatuses: [{ state: { terminated: { exitCode: 8, message: "containerd does not answer" } } }] } });
    assert.deepEqual(failed, { done: true, ok: false, detail: "exit 8: containerd does not answer" });
    assert.equal(verdict({ metadata: { name: "p" }, status: { phase: "Pending", containerStatuses: [{ state: { waiting: { reason: "ImagePullBackOff" } } }] } }).done, true);
    assert.equal(verdict(undefined).done, true);
    assert.equal(verdict({ metadata: { name: "p" }, status: { phase: "Running" } }).done, false);
  });
});

interface Stub {
  url: string;
  nodes: Node[];
  pods: Map<string, { body: { metadata: { name: string; labels: Record<string, string> }; spec: { nodeName: string } }; polls: number }>;
  deleted: string[];
  failOn: Set<string>;
  forbidNodes: boolean;
  stuck: boolean;
  auth: string[];
  close(): Promise<void>;
}

/** Answers like the API server for what the hook uses; Pods finish on their second poll, those on failOn nodes with exit 8. */
async function startApiStub(certs: ReturnType<typeof makeCerts>): Promise<Stub> {
  const stub = { nodes: [], pods: new Map(), deleted: [], failOn: new Set(), forbidNodes: false, auth: [] } as unknown as Stub;
  const server = https.createServer({ key: certs.key, cert: certs.cert }, (req, res) => {
    stub.auth.push(req.headers.authorization ?? "");
    const url = new URL(req.url!, "https://x");
    const send = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    let text = "";
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { message: "Unauthorized" });
      if (url.pathname === "/api/v1/nodes") {
        if (stub.forbidNodes) return send(403, { message: 'nodes is forbidden: User "system:serviceaccount:ns:x" cannot list resource "nodes"' });
        return send(200, { items: stub.nodes });
      }
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/.exec(url.pathname);
      if (!m) return send(404, { message: "not found" });
      if (req.method === "POST") {
        const body = JSON.parse(text);
        if (stub.pods.has(body.metadata.name)) return send(409, { message: "already exists" });
        stub.pods.set(body.metadata.name, { body, polls: 0 });
        return send(201, body);
      }
      if (req.method === "DELETE") {
        stub.deleted.push(m[2]);
        return stub.pods.delete(m[2]) ? send(200, {}) : send(404, { message: "not found" });
      }
      const want = (url.searchParams.get("labelSelector") ?? "").split(",").filter(Boolean).map((kv) => kv.split("="));
      const items = [...stub.pods.values()].filter((p) => want.every(([k, v]) => p.body.metadata.labels[k] === v)).map((p) => {
        p.polls++;
        const fail = stub.failOn.has(p.body.spec.nodeName);
        const status = p.polls < 2 || stub.stuck ? { phase: "Running" } : fail
          ? { phase: "Failed", containerStatuses: [{ state: { terminated: { exitCode: 8, message: "error: containerd at /run/runtime.sock does not answer" } } }] }
          : { phase: "Succeeded", containerStatuses: [{ state: { terminated: { exitCode: 0, message: "imported 3, skipped 0, failed 0 of 3" } } }] };
        return { ...p.body, status };
      });
      return send(200, { items });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  stub.url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  stub.close = () => new Promise((r) => server.close(() => r()));
  return stub;
}

describe("hook controller against an API stub", () => {
  let certs: ReturnType<typeof makeCerts>;
  let stub: Stub;
  let dir: string;

  before(async () => {
    certs = makeCerts();
    stub = await startApiStub(certs);
    dir = tmpdir("dp-hook-");
    fs.writeFileSync(path.join(dir, "token"), `${TOKEN}\n`);
    fs.writeFileSync(path.join(dir, "pod.yaml"), `apiVersion: v1
kind: Pod
metadata: {labels: {app.kubernetes.io/name: rel-image-pull}}
spec:
  nodeSelector: {pool: app}
  tolerations: [{key: dedicated, operator: Equal, value: app, effect: NoSchedule}]
  containers: [{name: import, image: importer:1, args: [images, import, --from, /images]}]
`);
  });
  after(() => stub.close());

  const hook = (runId: string, onSpawn?: (pid: number) => void) =>
    runDp({}, ["images", "hook", "--api", stub.url, "--token-file", path.join(dir, "token"), "--ca-file", certs.caFile, "--pod-namespace", "apps",
      "--pod-template", path.join(dir, "pod.yaml"), "--name-prefix", "rel-image-pull", "--run-id", runId, "--timeout", "20s", "--poll-interval", "100ms"], { timeoutMs: 40_000, onSpawn });

  it("one Pod bound by name to each selected node; cordoned, NotReady, untolerated and unmatched nodes are listed, not served", async () => {
    stub.nodes = [
      node("node-a"), node("node-b"), node("node-cordoned", { cordoned: true }), node("node-down", { ready: false }),
      node("node-gpu", { taints: [{ key: "gpu", value: "true", effect: "NoSchedule" }] }),
      node("node-dedicated", { taints: [{ key: "dedicated", value: "app", effect: "NoSchedule" }] }),
      node("node-other", { labels: { pool: "batch" } }),
    ];
    const r = await hook("1");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const bound = [...stub.pods.values()].map((p) => p.body.spec.nodeName).sort();
    assert.deepEqual(bound, ["node-a", "node-b", "node-dedicated"]);
    for (const p of stub.pods.values()) assert.ok(p.body.metadata.name.length <= 63);
    assert.match(r.stdout, /node-cordoned\s+not selected\s+cordoned/);
    assert.match(r.stdout, /node-down\s+not selected\s+not Ready/);
    assert.match(r.stdout, /node-gpu\s+not selected\s+taint gpu=true:NoSchedule not tolerated/);
    assert.match(r.stdout, /node-a\s+rel-image-pull-1-\w+\s+imported/);
    assert.match(r.stdout, /imported on 3 of 3 selected nodes; 4 not selected/);
    assert.ok(stub.auth.every((a) => a === `Bearer ${TOKEN}`));
    assert.ok(!(r.stdout + r.stderr).includes(TOKEN), "the token is never logged");
  });

  it("a node whose import fails fails the hook, naming the node; the earlier run's Pods are replaced", async () => {
    const earlier = [...stub.pods.keys()];
    stub.failOn = new Set(["node-b"]);
    const r = await hook("2");
    assert.equal(r.code, 7, r.stdout + r.stderr);
    assert.match(r.stderr, /the images did not reach 1 of 3 nodes: node-b/);
    assert.match(r.stdout, /node-b\s+\S+\s+failed\s+exit 8: error: containerd at \/run\/runtime.sock does not answer/);
    for (const e of earlier) assert.ok(stub.deleted.includes(e), `${e} deleted`);
    assert.equal(stub.pods.size, 3, "this run's Pods are kept: they are the report");
  });

  it("no node selected: the hook fails, it does not succeed having served nothing", async () => {
    stub.nodes = [node("node-cordoned", { cordoned: true })];
    const r = await hook("3");
    assert.equal(r.code, 7, r.stdout + r.stderr);
    assert.match(r.stderr, /no node is selected/);
  });

  it("Pods that never finish: SIGTERM stops the controller within seconds, exit 143, the table printed", async () => {
    stub.nodes = [node("node-a")];
    stub.stuck = true;
    let sent = 0;
    const r = await hook("5", (pid) => setTimeout(() => ((sent = Date.now()), process.kill(pid, "SIGTERM")), 1500));
    stub.stuck = false;
    assert.equal(r.code, 143, r.stdout + r.stderr);
    assert.ok(Date.now() - sent < 5000);
    assert.match(r.stdout, /node-a\s+\S+\s+waiting\s+Running/);
  });

  it("a Pod template that is missing or a FIFO: exit 2, no hang; a CA that is missing: exit 8", async () => {
    const fifo = path.join(dir, "fifo.yaml");
    spawnSync("mkfifo", [fifo]);
    for (const t of ["/nonexistent/pod.yaml", fifo]) {
      const r = await runDp({}, ["images", "hook", "--api", stub.url, "--token-file", path.join(dir, "token"), "--ca-file", certs.caFile, "--pod-namespace", "apps", "--pod-template", t, "--name-prefix", "p", "--run-id", "1"], { timeoutMs: 20_000 });
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /--pod-template/);
    }
    const r = await runDp({}, ["images", "hook", "--api", stub.url, "--token-file", path.join(dir, "token"), "--ca-file", "/nonexistent/ca.crt", "--pod-namespace", "apps", "--pod-template", path.join(dir, "pod.yaml"), "--name-prefix", "p", "--run-id", "1"], { timeoutMs: 20_000 });
    assert.equal(r.code, 8, r.stdout + r.stderr);
    assert.match(r.stderr, /cannot read the API server's CA/);
  });

  it("RBAC refusing to list nodes: exit 8 with the API's answer", async () => {
    stub.forbidNodes = true;
    const r = await hook("4");
    assert.equal(r.code, 8, r.stdout + r.stderr);
    assert.match(r.stderr, /GET \/api\/v1\/nodes.* HTTP 403: nodes is forbidden/);
    stub.forbidNodes = false;
  });
});

describe("chart: rendered by the real helm, validated with kubernetes-models", () => {
  const helm = k8sTool("helm");
  const chart = path.join(ROOT, "deploy/helm");
  const render = (release: string, ...set: string[]) => {
    const r = spawnSync(helm, ["template", release, chart, "--namespace", "apps", "--set", "imagePull.enabled=true", ...set.flatMap((s) => ["--set", s])], { encoding: "utf8" });
    return { ...r, docs: r.status === 0 ? parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean) : [] };
  };
  const models: Record<string, () => Promise<unknown>> = {
    "v1/Pod": async () => (await import("kubernetes-models/v1/Pod")).Pod,
    "v1/ServiceAccount": async () => (await import("kubernetes-models/v1/ServiceAccount")).ServiceAccount,
    "v1/ConfigMap": async () => (await import("kubernetes-models/v1/ConfigMap")).ConfigMap,
    "batch/v1/Job": async () => (await import("kubernetes-models/batch/v1/Job")).Job,
    "rbac.authorization.k8s.io/v1/Role": async () => (await import("kubernetes-models/rbac.authorization.k8s.io/v1/Role")).Role,
    "rbac.authorization.k8s.io/v1/RoleBinding": async () => (await import("kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding")).RoleBinding,
    "rbac.authorization.k8s.io/v1/ClusterRole": async () => (await import("kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole")).ClusterRole,
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding": async () => (await import("kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding")).ClusterRoleBinding,
    "apps/v1/Deployment": async () => (await import("kubernetes-models/apps/v1/Deployment")).Deployment,
  };
  const validate = async (doc: { apiVersion: string; kind: string }) => {
    const Model = (await models[`${doc.apiVersion}/${doc.kind}`]?.()) as (new (o: unknown) => { validate(): void }) | undefined;
    assert.ok(Model, `no model for ${doc.apiVersion}/${doc.kind}`);
    new Model(doc).validate();
  };

  it("every object is valid, names fit 63 characters for the longest release name, nothing is deleted on success", async () => {
    const release = "r".repeat(53); // Helm's own limit for a release name
    const { status, stderr, docs, stdout } = render(release);
    assert.equal(status, 0, stderr);
    assert.doesNotMatch(stdout, /hook-succeeded/);
    const pod = parse(docs.find((d) => d.kind === "ConfigMap").data["pod.yaml"]);
    for (const d of [...docs, { ...pod, metadata: { ...pod.metadata, name: "x" } }]) await validate(d);
    for (const d of docs) if (!d.kind.startsWith("Cluster")) assert.ok(d.metadata.name.length <= 63, `${d.kind} ${d.metadata.name}`);
    const job = docs.find((d) => d.kind === "Job");
    assert.ok(job.spec.template.spec.containers[0].args.join(" ").includes(`images hook --pod-template /etc/image-pull/pod.yaml --name-prefix ${job.metadata.name}`));
    assert.equal(job.spec.template.spec.serviceAccountName, job.metadata.name);
    const roles = docs.filter((d) => d.kind === "Role" || d.kind === "ClusterRole").flatMap((d) => d.rules.map((r: { resources: string[]; verbs: string[] }) => `${r.resources}:${r.verbs}`));
    assert.deepEqual(roles.sort(), ["nodes:get,list", "pods:create,get,list,delete"]);
  });

  it("runtime docker mounts Docker's socket; containerd its own; an explicit socket wins; another runtime is refused", () => {
    const socketOf = (r: ReturnType<typeof render>) => {
      const pod = parse(r.docs.find((d) => d.kind === "ConfigMap").data["pod.yaml"]);
      return pod.spec.volumes.find((v: { name: string }) => v.name === "runtime-socket").hostPath.path;
    };
    assert.equal(socketOf(render("a", "imagePull.runtime=docker")), "/var/run/docker.sock");
    assert.equal(socketOf(render("a")), "/run/containerd/containerd.sock");
    assert.equal(socketOf(render("a", "imagePull.socket=/run/k3s/containerd/containerd.sock")), "/run/k3s/containerd/containerd.sock");
    const bad = render("a", "imagePull.runtime=cri-o");
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /imagePull.runtime must be containerd or docker/);
  });
});
