// Where the pod specs are in a parsed manifest: the workload kinds and the path of their
// pod spec, through `kind: List` and typed `*List` documents (whose items may omit their
// kind). Pure: plain data in, workloads with their paths out.

import type { Path } from "./pod-spec.ts";

export const POD_SPEC_PATHS: Record<string, string[]> = {
  Pod: ["spec"],
  Deployment: ["spec", "template", "spec"],
  StatefulSet: ["spec", "template", "spec"],
  DaemonSet: ["spec", "template", "spec"],
  ReplicaSet: ["spec", "template", "spec"],
  ReplicationController: ["spec", "template", "spec"],
  Job: ["spec", "template", "spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};

export interface Workload {
  kind: string;
  name: string;
  /** metadata.namespace, or "default" when the document names none (as kubectl applies it). */
  namespace: string;
  labels: Record<string, string>;
  /** From the document root to the pod spec. */
  specPath: Path;
  spec: Record<string, unknown>;
}

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj | undefined => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined);

function workload(o: Obj, kind: string, base: Path): Workload | undefined {
  const rel = POD_SPEC_PATHS[kind];
  if (!rel) return undefined;
  const spec = asObj(rel.reduce((x: unknown, k) => asObj(x)?.[k], o));
  if (!spec) return undefined;
  const meta = asObj(o.metadata) ?? {};
  const labels = Object.fromEntries(Object.entries(asObj(meta.labels) ?? {}).map(([k, v]) => [k, String(v)]));
  return { kind, name: String(meta.name ?? ""), namespace: String(meta.namespace ?? "default") || "default", labels, specPath: [...base, ...rel], spec };
}

/** Every workload in one document, Lists included (nested Lists too). */
export function findWorkloads(root: unknown, base: Path = [], impliedKind?: string): Workload[] {
  const o = asObj(root);
  if (!o) return [];
  const kind = typeof o.kind === "string" ? o.kind : impliedKind;
  if (!kind) return [];
  if (kind.endsWith("List") && Array.isArray(o.items)) {
    // A typed list (PodList, DeploymentList) may hold items without a kind of their own.
    const itemKind = kind === "List" ? undefined : kind.slice(0, -"List".length);
    return o.items.flatMap((item, i) => findWorkloads(item, [...base, "items", i], itemKind));
  }
  const w = workload(o, kind, base);
  return w ? [w] : [];
}
