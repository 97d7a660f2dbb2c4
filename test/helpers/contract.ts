// The contract every manifest with the init container must meet, checked the same way for
// the deploy/ examples, for what `inject` writes and for what the webhook patches in.

import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { POD_SPEC_PATHS as SPEC_PATH } from "../../src/inject/inject.ts";

type Obj = Record<string, any>;


export function podSpecs(yamlText: string): { kind: string; spec: Obj }[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as Obj)
    .filter((o) => o && SPEC_PATH[o.kind])
    .map((o) => ({ kind: o.kind, spec: SPEC_PATH[o.kind].reduce((x: Obj, k) => x?.[k], o) }));
}

export function assertContract(spec: Obj, opts: { image?: string; volume?: string; mountPath?: string } = {}) {
  const volume = opts.volume ?? "package-data";
  const mountPath = opts.mountPath ?? "/shared-data";
  const vol = (spec.volumes ?? []).find((v: Obj) => v.name === volume);
  assert.ok(vol && vol.emptyDir !== undefined, `an emptyDir volume named ${volume}`);
  const init = (spec.initContainers ?? []).find((c: Obj) => (c.env ?? []).some((e: Obj) => e.name === "PACKAGE_URL"));
  assert.ok(init, "an init container with PACKAGE_URL");
  if (opts.image) assert.equal(init.image, opts.image);
  const url = init.env.find((e: Obj) => e.name === "PACKAGE_URL");
  assert.ok(url.value || url.valueFrom?.secretKeyRef, "PACKAGE_URL has a value or a Secret reference");
  const dest = init.env.find((e: Obj) => e.name === "PACKAGE_DEST");
  const initMount = (init.volumeMounts ?? []).find((m: Obj) => m.name === volume);
  assert.ok(initMount && !initMount.readOnly, "the init container mounts the volume read-write");
  assert.ok(!dest || dest.value.startsWith(initMount.mountPath), "PACKAGE_DEST is inside the volume");
  assert.equal(init.terminationMessagePolicy, "FallbackToLogsOnError");
  assert.equal(init.securityContext?.runAsNonRoot, true);
  assert.equal(init.securityContext?.readOnlyRootFilesystem, true);
  assert.deepEqual(init.securityContext?.capabilities?.drop, ["ALL"]);
  assert.ok(init.resources?.requests?.memory && init.resources?.limits?.memory, "memory request and limit");
  assert.ok(spec.containers.length > 0);
  for (const c of spec.containers) {
    const m = (c.volumeMounts ?? []).find((x: Obj) => x.name === volume);
    assert.ok(m, `${c.name} mounts ${volume}`);
    assert.equal(m.readOnly, true, `${c.name} mounts it read-only`);
    assert.equal(m.mountPath, mountPath);
  }
  return init;
}

// Schema validation with kubernetes-models: the published OpenAPI schema of each kind.
const MODELS: Record<string, string> = {
  Pod: "kubernetes-models/v1/Pod",
  ReplicationController: "kubernetes-models/v1/ReplicationController",
  Deployment: "kubernetes-models/apps/v1/Deployment",
  StatefulSet: "kubernetes-models/apps/v1/StatefulSet",
  DaemonSet: "kubernetes-models/apps/v1/DaemonSet",
  ReplicaSet: "kubernetes-models/apps/v1/ReplicaSet",
  Job: "kubernetes-models/batch/v1/Job",
  CronJob: "kubernetes-models/batch/v1/CronJob",
  Namespace: "kubernetes-models/v1/Namespace",
  ServiceAccount: "kubernetes-models/v1/ServiceAccount",
  Service: "kubernetes-models/v1/Service",
  MutatingWebhookConfiguration: "kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration",
};

/** Throws (with the schema's words) when `obj` is not valid for the API server. */
export async function assertSchemaValid(obj: Obj, kind = obj.kind as string): Promise<void> {
  const mod = MODELS[kind];
  assert.ok(mod, `a model for ${kind}`);
  const Model = (await import(mod))[kind];
  try {
    new Model(obj).validate();
  } catch (e) {
    assert.fail(`${kind}/${obj.metadata?.name} is not valid: ${(e as Error).message}`);
  }
}

/** Cross-references the schema cannot check: mounts name volumes, names are unique. */
export function assertCrossRefs(spec: Obj, claimTemplates: string[] = []) {
  const volumes = (spec.volumes ?? []).map((v: Obj) => v.name);
  assert.equal(new Set(volumes).size, volumes.length, `volume names are unique: ${volumes}`);
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  const names = all.map((c: Obj) => c.name);
  assert.equal(new Set(names).size, names.length, `container names are unique: ${names}`);
  for (const c of all) {
    const mounts = c.volumeMounts ?? [];
    for (const m of mounts) assert.ok(volumes.includes(m.name) || claimTemplates.includes(m.name), `${c.name} mounts ${m.name}, which is a volume`);
    const paths = mounts.map((m: Obj) => m.mountPath);
    assert.equal(new Set(paths).size, paths.length, `${c.name}: mount paths are unique`);
  }
  const secrets = (spec.imagePullSecrets ?? []).map((s: Obj) => s.name);
  assert.equal(new Set(secrets).size, secrets.length, "imagePullSecrets are unique");
}
