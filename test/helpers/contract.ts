// The contract every manifest with the init container must meet, checked the same way for
// the deploy/ examples and for what `inject` writes.

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
