// `download-package webhook` over real HTTPS: AdmissionReviews shaped as the API server
// sends them, the returned JSONPatch applied (RFC 6902) and the Pod validated with
// kubernetes-models; certificate reload; Pods left alone; bad annotations refused.

import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import tls from "node:tls";
import { assertContract, assertCrossRefs, assertSchemaValid } from "./helpers/contract.ts";
import { cleanEnv, command, exec, ROOT, tmpdir } from "./helpers/run.ts";
import { parseAllDocuments } from "yaml";
import { WEBHOOK_OPTIONS } from "../src/cli/webhook.ts";

type Obj = Record<string, any>;
const IMAGE = "registry.example.internal/package-init-container:0.1.0";
const URL = "https://files.example.internal/packages/site.tar.gz";
const SHA = "a".repeat(64);

/** The README's openssl recipe: a CA, and a serving certificate it signs (plus 127.0.0.1 for the test). */
function makeCert(dir: string, cn: string, ca?: { key: string; pem: string }): { key: string; pem: string } {
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const id = crypto.randomUUID();
  if (!ca) {
    run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${id}.key`, "-out", `${id}.pem`, "-days", "2", "-subj", `/CN=${cn}`]);
  } else {
    fs.writeFileSync(path.join(dir, `${id}.ext`), "subjectAltName=DNS:download-package-webhook.download-package.svc,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
    run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${id}.key`, "-out", `${id}.csr`, "-subj", `/CN=${cn}`]);
    run(["x509", "-req", "-in", `${id}.csr`, "-CA", ca.pem, "-CAkey", ca.key, "-CAcreateserial", "-out", `${id}.pem`, "-days", "2", "-extfile", `${id}.ext`]);
  }
  return { key: path.join(dir, `${id}.key`), pem: path.join(dir, `${id}.pem`) };
}

/** RFC 6902 add/replace/remove/test on plain data; a missing parent is an error, as on the API server. */
function applyJsonPatch(doc: Obj, patch: { op: string; path: string; value?: unknown }[]): Obj {
  const out = structuredClone(doc);
  for (const p of patch) {
    const keys = p.path.split("/").slice(1).map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = keys.pop()!;
    let parent: any = out;
    for (const k of keys) {
      parent = Array.isArray(parent) ? parent[Number(k)] : parent?.[k];
      assert.ok(parent !== undefined && parent !== null, `patch path ${p.path}: parent missing`);
    }
    if (Array.isArray(parent)) {
      const i = last === "-" ? parent.length : Number(last);
      assert.ok(Number.isInteger(i) && i >= 0 && i <= parent.length, `patch path ${p.path}: bad index`);
      if (p.op === "add") parent.splice(i, 0, p.value);
      else if (p.op === "replace") parent[i] = p.value;
      else if (p.op === "remove") parent.splice(i, 1);
      else assert.fail(`unexpected op ${p.op}`);
    } else {
      assert.ok(typeof parent === "object", `patch path ${p.path}: parent is not an object`);
      if (p.op === "add" || p.op === "replace") parent[last] = p.value;
      else if (p.op === "remove") delete parent[last];
      else assert.fail(`unexpected op ${p.op}`);
    }
  }
  return out;
}

/** A Pod as a ReplicaSet controller creates it, after the API server's defaulting. */
function pod(annotations: Record<string, string> | undefined, extra: Obj = {}): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: "web-7d9f8c6b5-",
      namespace: "apps",
      labels: { app: "web", "pod-template-hash": "7d9f8c6b5" },
      ...(annotations ? { annotations } : {}),
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-7d9f8c6b5", uid: "2b0e7c4e-1f1c-4f5a-9d0e-6a2d7b8c9e01", controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      containers: [
        {
          name: "web",
          image: "registry.example.internal/web:1.0",
          imagePullPolicy: "IfNotPresent",
          resources: {},
          terminationMessagePath: "/dev/termination-log",
          terminationMessagePolicy: "File",
          volumeMounts: [{ name: "kube-api-access-x7k2p", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true }],
        },
      ],
      volumes: [
        {
          name: "kube-api-access-x7k2p",
          projected: {
            defaultMode: 420,
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
              { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
              { downwardAPI: { items: [{ path: "namespace", fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" } }] } },
            ],
          },
        },
      ],
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      dnsPolicy: "ClusterFirst",
      serviceAccountName: "default",
      serviceAccount: "default",
      securityContext: {},
      schedulerName: "default-scheduler",
      tolerations: [
        { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
        { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: "PreemptLowerPriority",
      ...extra,
    },
    status: {},
  };
}

function admissionReview(object: Obj, opts: { operation?: string; dryRun?: boolean; kind?: string; resource?: string } = {}): Obj {
  const kind = { group: "", version: "v1", kind: opts.kind ?? "Pod" };
  const resource = { group: "", version: "v1", resource: opts.resource ?? "pods" };
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: crypto.randomUUID(),
      kind,
      resource,
      requestKind: kind,
      requestResource: resource,
      namespace: "apps",
      operation: opts.operation ?? "CREATE",
      userInfo: { username: "system:serviceaccount:kube-system:replicaset-controller", uid: "5f1c2d3e-aaaa-bbbb-cccc-0123456789ab", groups: ["system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"] },
      object,
      oldObject: null,
      dryRun: opts.dryRun ?? false,
      options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
    },
  };
}

interface Webhook {
  proc: ChildProcess;
  port: number;
  stderr: () => string;
}

async function startWebhook(args: string[], env: Record<string, string> = {}): Promise<Webhook> {
  const [cmd, argv] = command(["webhook", "--image", IMAGE, "--listen", "127.0.0.1:0", ...args]);
  const proc = spawn(cmd, argv, { env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr!.on("data", (d) => (stderr += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`webhook did not start: ${stderr}`)), 20_000);
    proc.stderr!.on("data", () => {
      const m = /listening on https:\/\/127\.0\.0\.1:(\d+)\/mutate/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on("exit", (code) => reject(new Error(`webhook exited ${code}: ${stderr}`)));
  });
  return { proc, port, stderr: () => stderr };
}

function request(port: number, ca: string, opts: { method?: string; path?: string; body?: string }): Promise<{ status: number; body: string; cert: tls.PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", port, method: opts.method ?? "POST", path: opts.path ?? "/mutate", ca, agent: false, headers: { "content-type": "application/json" } }, (res) => {
      let body = "";
      const cert = (res.socket as tls.TLSSocket).getPeerCertificate();
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body, cert }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("download-package webhook", () => {
  let dir: string;
  let ca: { key: string; pem: string };
  let certFile: string;
  let keyFile: string;
  let hook: Webhook;

  const review = async (object: Obj, opts: Parameters<typeof admissionReview>[1] = {}) => {
    const body = admissionReview(object, opts);
    const r = await request(hook.port, fs.readFileSync(ca.pem, "utf8"), { body: JSON.stringify(body) });
    assert.equal(r.status, 200, r.body);
    const answer = JSON.parse(r.body);
    assert.equal(answer.apiVersion, "admission.k8s.io/v1");
    assert.equal(answer.kind, "AdmissionReview");
    assert.equal(answer.response.uid, body.request.uid, "the answer carries the request's uid");
    return answer.response as Obj;
  };

  before(async () => {
    dir = tmpdir("inject-webhook-");
    ca = makeCert(dir, "webhook test CA");
    const serving = makeCert(dir, "download-package-webhook.download-package.svc", ca);
    certFile = path.join(dir, "tls.crt");
    keyFile = path.join(dir, "tls.key");
    fs.copyFileSync(serving.pem, certFile);
    fs.copyFileSync(serving.key, keyFile);
    hook = await startWebhook(["--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-reload-interval", "200ms"]);
  });

  after(() => {
    hook?.proc.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("answers /healthz", async () => {
    const r = await request(hook.port, fs.readFileSync(ca.pem, "utf8"), { method: "GET", path: "/healthz" });
    assert.equal(r.status, 200);
    assert.equal(r.body, "ok\n");
  });

  it("patches an annotated Pod: the patched Pod is valid and meets the same contract as inject's", async () => {
    const object = pod({ "download-package/url": URL, "download-package/sha256": SHA, "download-package/dest": "/shared-data/site" });
    const res = await review(object);
    assert.equal(res.allowed, true);
    assert.equal(res.patchType, "JSONPatch");
    const patch = JSON.parse(Buffer.from(res.patch, "base64").toString("utf8"));
    assert.ok(patch.every((p: Obj) => p.path.startsWith("/spec/")), "only the pod spec changes");
    const patched = applyJsonPatch(object, patch);
    await assertSchemaValid(patched);
    const init = assertContract(patched.spec, { image: IMAGE });
    assertCrossRefs(patched.spec);
    const env = Object.fromEntries(init.env.map((e: Obj) => [e.name, e.value]));
    assert.deepEqual(env, { PACKAGE_URL: URL, PACKAGE_DEST: "/shared-data/site", PACKAGE_SHA256: SHA });
    assert.deepEqual(patched.spec.containers[0].volumeMounts[0], object.spec.containers[0].volumeMounts[0], "existing mounts kept");
    assert.deepEqual({ ...patched, spec: undefined }, { ...object, spec: undefined }, "metadata untouched");

    // The same Pod again (a reinvocation, or a Pod made from a patched template): left alone.
    const again = await review(patched);
    assert.deepEqual(again, { uid: again.uid, allowed: true });
  });

  it("a dry run gets the same patch; a Pod with existing init containers gets ours first", async () => {
    const object = pod({ "download-package/url": URL }, { initContainers: [{ name: "migrate", image: "registry.example.internal/migrate:1" }] });
    const res = await review(object, { dryRun: true });
    const patched = applyJsonPatch(object, JSON.parse(Buffer.from(res.patch, "base64").toString("utf8")));
    assert.deepEqual(patched.spec.initContainers.map((c: Obj) => c.name), ["download-package", "migrate"]);
    await assertSchemaValid(patched);
  });

  it("leaves alone what is not an annotated Pod being created", async () => {
    for (const [object, opts] of [
      [pod(undefined), {}],
      [pod({ "other.example.com/url": URL }), {}],
      [pod({ "download-package/url": URL }), { operation: "UPDATE" }],
      [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } }, { kind: "ConfigMap", resource: "configmaps" }],
    ] as [Obj, Obj][]) {
      const res = await review(object, opts);
      assert.deepEqual(res, { uid: res.uid, allowed: true });
    }
  });

  it("refuses a Pod with a bad annotation, with a message naming it (no broken Pod)", async () => {
    for (const [annotations, msg] of [
      [{ "download-package/url": "ftp://files.example.internal/p.tar.gz" }, /download-package\/url: PACKAGE_URL must be http or https, not ftp/],
      [{ "download-package/url": "not a url" }, /download-package\/url: PACKAGE_URL has an invalid URL/],
      [{ "download-package/url": URL, "download-package/sha256": "abc" }, /download-package\/sha256 is not a SHA-256 or SHA-512 digest/],
      [{ "download-package/url": URL, "download-package/sha265": SHA }, /unknown annotation download-package\/sha265: did you mean download-package\/sha256\?/],
      [{ "download-package/url": URL, "download-package/dest": "/etc" }, /download-package\/dest "\/etc" is not inside the shared volume \/shared-data/],
      [{ "download-package/sha256": SHA }, /given without download-package\/url/],
      [{ "download-package/url": "https://user:secret@files.example.internal/p.tar.gz" }, /download-package\/url carries credentials/],
    ] as [Record<string, string>, RegExp][]) {
      const res = await review(pod(annotations));
      assert.equal(res.allowed, false, JSON.stringify(annotations));
      assert.equal(res.status.code, 400);
      assert.equal(res.status.reason, "BadRequest");
      assert.match(res.status.message, msg);
      assert.equal(res.patch, undefined);
      assert.doesNotMatch(res.status.message, /secret@/, "the answer never repeats a credential");
    }
    const clash = await review(pod({ "download-package/url": URL }, { volumes: [{ name: "package-data", configMap: { name: "c" } }] }));
    assert.equal(clash.allowed, false);
    assert.match(clash.status.message, /already has a volume named package-data/);
    assert.match(hook.stderr(), /result=denied/);
  });

  it("answers 400 to what is not an AdmissionReview, 404 elsewhere", async () => {
    const caPem = fs.readFileSync(ca.pem, "utf8");
    assert.equal((await request(hook.port, caPem, { body: "{not json" })).status, 400);
    assert.equal((await request(hook.port, caPem, { body: JSON.stringify({ kind: "Pod" }) })).status, 400);
    assert.equal((await request(hook.port, caPem, { path: "/other", body: "{}" })).status, 404);
    const still = await request(hook.port, caPem, { method: "GET", path: "/healthz" });
    assert.equal(still.status, 200, "still serving");
  });

  it("serves a renewed certificate without a restart", async () => {
    const caPem = fs.readFileSync(ca.pem, "utf8");
    const first = await request(hook.port, caPem, { method: "GET", path: "/healthz" });
    const renewed = makeCert(dir, "renewed.download-package.svc", ca);
    // As a Secret volume update does: new files swapped in whole.
    fs.copyFileSync(renewed.key, keyFile + ".new");
    fs.copyFileSync(renewed.pem, certFile + ".new");
    fs.renameSync(keyFile + ".new", keyFile);
    fs.renameSync(certFile + ".new", certFile);
    let cn = first.cert.subject.CN;
    for (let i = 0; i < 50 && cn === first.cert.subject.CN; i++) {
      await new Promise((r) => setTimeout(r, 100));
      cn = (await request(hook.port, caPem, { method: "GET", path: "/healthz" })).cert.subject.CN;
    }
    assert.equal(first.cert.subject.CN, "download-package-webhook.download-package.svc");
    assert.equal(cn, "renewed.download-package.svc");
    assert.match(hook.stderr(), /reloaded the TLS certificate/);
    // A broken pair is not taken: the renewed one keeps being served.
    fs.writeFileSync(keyFile, "not a key");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await request(hook.port, caPem, { method: "GET", path: "/healthz" })).cert.subject.CN, "renewed.download-package.svc");
    assert.match(hook.stderr(), /keeping the current TLS certificate/);
    fs.copyFileSync(renewed.key, keyFile);
  });

  it("stops on SIGTERM with 143", async () => {
    const h = await startWebhook(["--tls-cert-file", certFile, "--tls-key-file", keyFile]);
    const code = await new Promise<number | null>((resolve) => {
      h.proc.on("exit", (c) => resolve(c));
      h.proc.kill("SIGTERM");
    });
    assert.equal(code, 143);
  });

  it("refuses bad settings with exit 2 and the fix", async () => {
    for (const [args, env, msg] of [
      [["webhook", "--tls-cert-file", certFile, "--tls-key-file", keyFile], {}, /needs --image \(WEBHOOK_IMAGE\)/],
      [["webhook", "--image", IMAGE, "--tls-cert-file", path.join(dir, "missing.crt"), "--tls-key-file", keyFile], {}, /cannot read the TLS certificate .*missing\.crt: ENOENT/],
      [["webhook", "--image", IMAGE, "--tls-cert-file", certFile, "--tls-key-file", ca.key], {}, /are not a usable pair/],
      [["webhook", "--image", IMAGE], { WEBHOOK_MOUNTPATH: "/x" }, /unknown environment variable WEBHOOK_MOUNTPATH.*did you mean WEBHOOK_MOUNT_PATH\?/],
      [["webhook", "--imag", IMAGE], {}, /unknown webhook flag --imag.*did you mean --image\?/],
      [["webhook", "--image", IMAGE, "--mount-path", "relative"], {}, /--mount-path "relative" is not an absolute path/],
    ] as [string[], Record<string, string>, RegExp][]) {
      const [cmd, argv] = command(args);
      const r = await exec(cmd, argv, { env: cleanEnv(env) });
      assert.equal(r.status, 2, `${args}: ${r.stderr}`);
      assert.match(r.stderr, msg);
    }
    const [cmd, argv] = command(["webhook", "--help"]);
    const help = await exec(cmd, argv, { env: cleanEnv() });
    assert.equal(help.status, 0);
    for (const o of ["WEBHOOK_IMAGE", "WEBHOOK_TLS_CERT_FILE", "--tls-reload-interval", "download-package/url"]) assert.ok(help.stdout.includes(o), o);
  });
});

describe("deploy/webhook/", () => {
  const read = (f: string) => parseAllDocuments(fs.readFileSync(path.join(ROOT, "deploy/webhook", f), "utf8")).map((d) => d.toJS() as Obj);
  const all = [...read("webhook.yaml"), ...read("mutating-webhook.yaml")];
  const find = (kind: string) => all.find((o) => o.kind === kind)!;

  it("every object is valid for the API server", async () => {
    assert.deepEqual(all.map((o) => o.kind), ["Namespace", "ServiceAccount", "Deployment", "Service", "MutatingWebhookConfiguration"]);
    for (const o of all) await assertSchemaValid(o);
  });

  it("the Deployment runs non-root with a read-only root filesystem, with settings the webhook accepts", async () => {
    const spec = find("Deployment").spec.template.spec;
    const [c] = spec.containers;
    assert.equal(spec.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
    assert.deepEqual(c.args, ["webhook"]);
    const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e.value]));
    for (const name of Object.keys(env)) assert.ok(WEBHOOK_OPTIONS.some((o) => o.env === name), `${name} is a webhook setting`);
    const tlsMount = c.volumeMounts.find((m: Obj) => m.name === "tls");
    assert.ok(env.WEBHOOK_TLS_CERT_FILE.startsWith(tlsMount.mountPath + "/") && env.WEBHOOK_TLS_KEY_FILE.startsWith(tlsMount.mountPath + "/"));
    assert.equal(spec.volumes.find((v: Obj) => v.name === "tls").secret.secretName, read("certificate.yaml")[1].spec.secretName);
    assert.equal(c.readinessProbe.httpGet.path, "/healthz");
    assert.equal(c.readinessProbe.httpGet.scheme, "HTTPS");
    // The very settings start the webhook (only the files and the port are the test's).
    const dir = tmpdir("inject-webhook-deploy-");
    const ca = makeCert(dir, "ca");
    const cert = makeCert(dir, "deploy", ca);
    const h = await startWebhook(["--tls-cert-file", cert.pem, "--tls-key-file", cert.key], { ...env, WEBHOOK_LISTEN: "127.0.0.1:0" });
    assert.match(h.stderr(), new RegExp(`image=${env.WEBHOOK_IMAGE.replace(/[.]/g, "\\.")}`));
    h.proc.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("the MutatingWebhookConfiguration: Pods on CREATE, no side effects, bounded time, its own namespace excluded", () => {
    const [w] = find("MutatingWebhookConfiguration").webhooks;
    const svc = find("Service");
    const ns = find("Deployment").metadata.namespace;
    assert.equal(w.sideEffects, "None");
    assert.ok(w.timeoutSeconds > 0 && w.timeoutSeconds <= 10);
    assert.ok(["Never", "IfNeeded"].includes(w.reinvocationPolicy));
    assert.ok(["Fail", "Ignore"].includes(w.failurePolicy));
    assert.deepEqual(w.admissionReviewVersions, ["v1"]);
    assert.deepEqual(w.rules, [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], scope: "Namespaced" }]);
    assert.deepEqual(w.clientConfig.service, { name: svc.metadata.name, namespace: ns, path: "/mutate", port: svc.spec.ports[0].port });
    const excluded = w.namespaceSelector.matchExpressions.find((e: Obj) => e.key === "kubernetes.io/metadata.name");
    assert.equal(excluded.operator, "NotIn");
    assert.ok(excluded.values.includes(ns), "the webhook's own namespace is excluded");
    assert.equal(find("MutatingWebhookConfiguration").metadata.annotations["cert-manager.io/inject-ca-from"], `${ns}/${read("certificate.yaml")[1].metadata.name}`);
    assert.ok(read("certificate.yaml")[1].spec.dnsNames.includes(`${svc.metadata.name}.${ns}.svc`));
  });
});
