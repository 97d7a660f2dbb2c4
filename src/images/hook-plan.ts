// The hook's decisions, pure: which nodes must get the images (Ready, schedulable, matching
// the nodeSelector, every NoSchedule/NoExecute taint tolerated), the Pod bound to each by
// name, and the verdict on each Pod. Kept apart from the API calls so it is tested alone.

import { createHash } from "node:crypto";

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}
export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}
export interface Node {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean; taints?: Taint[] };
  status?: { conditions?: { type: string; status: string }[] };
}
export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { nodeSelector?: Record<string, string>; tolerations?: Toleration[]; [k: string]: unknown };
}

export function tolerates(tols: Toleration[], t: Taint): boolean {
  return tols.some((tol) => {
    if (tol.effect && tol.effect !== t.effect) return false;
    if ((tol.operator ?? "Equal") === "Exists") return !tol.key || tol.key === t.key;
    return tol.key === t.key && (tol.value ?? "") === (t.value ?? "");
  });
}

/** Why a node is not selected, or undefined when it must get the images. */
export function exclusion(node: Node, selector: Record<string, string>, tols: Toleration[]): string | undefined {
  const labels = node.metadata.labels ?? {};
  const miss = Object.entries(selector).find(([k, v]) => labels[k] !== v);
  if (miss) return `does not match nodeSelector ${miss[0]}=${miss[1]}`;
  if (node.spec?.unschedulable) return "cordoned (unschedulable)";
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.status !== "True") return "not Ready";
  const untolerated = (node.spec?.taints ?? []).filter((t) => t.effect !== "PreferNoSchedule" && !tolerates(tols, t));
  if (untolerated.length) return `taint ${untolerated.map((t) => `${t.key}${t.value ? `=${t.value}` : ""}:${t.effect}`).join(", ")} not tolerated (imagePull.tolerations)`;
  return undefined;
}

const hash = (s: string, n: number) => createHash("sha256").update(s).digest("hex").slice(0, n);

/** Pod name for a node: prefix (cut to fit), the run, a hash of the node name; always ≤ 63 characters. */
export function podName(prefix: string, runId: string, node: string): string {
  const tail = `-${runId.slice(0, 8)}-${hash(node, 10)}`;
  const head = prefix.slice(0, 63 - tail.length).replace(/[-.]+$/, "");
  return `${head}${tail}`.toLowerCase();
}

/** A label value (≤ 63, alphanumeric at both ends) naming the hook; long names are cut and hashed. */
export function labelValue(s: string): string {
  if (s.length <= 63) return s;
  return `${s.slice(0, 52).replace(/[-._]+$/, "")}-${hash(s, 10)}`;
}

export const LABEL_HOOK = "download-package.io/hook";
export const LABEL_RUN = "download-package.io/run";

export function podFor(template: PodTemplate, o: { name: string; namespace: string; node: string; hook: string; runId: string }) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...template.metadata,
      name: o.name,
      namespace: o.namespace,
      labels: { ...template.metadata?.labels, [LABEL_HOOK]: labelValue(o.hook), [LABEL_RUN]: labelValue(o.runId) },
      annotations: { ...template.metadata?.annotations, "download-package.io/node": o.node },
    },
    // Bound by name: the scheduler is not asked, so no node can be skipped or served twice.
    spec: { ...template.spec, nodeName: o.node, restartPolicy: "Never" },
  };
}

export interface PodStatus {
  metadata: { name: string };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    containerStatuses?: {
      state?: { waiting?: { reason?: string; message?: string }; terminated?: { exitCode: number; reason?: string; message?: string } };
    }[];
  };
}

/** Waiting reasons that never resolve by waiting in an air-gapped cluster. */
const STUCK = new Set(["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "ErrImageNeverPull"]);

export type Verdict = { done: false; detail: string } | { done: true; ok: boolean; detail: string };

export function verdict(pod: PodStatus | undefined): Verdict {
  if (!pod) return { done: true, ok: false, detail: "the Pod disappeared (deleted or evicted)" };
  const st = pod.status ?? {};
  const c = st.containerStatuses?.[0]?.state;
  const term = c?.terminated;
  const msg = (term?.message ?? "").trim().split("\n").pop() ?? "";
  if (st.phase === "Succeeded") return { done: true, ok: true, detail: msg || "imported" };
  if (st.phase === "Failed") {
    const why = term ? `exit ${term.exitCode}${msg ? `: ${msg}` : term.reason ? ` (${term.reason})` : ""}` : `${st.reason ?? "failed"}${st.message ? `: ${st.message}` : ""}`;
    return { done: true, ok: false, detail: why };
  }
  const waiting = c?.waiting;
  if (waiting?.reason && STUCK.has(waiting.reason)) return { done: true, ok: false, detail: `${waiting.reason}: ${waiting.message ?? ""}`.trim() };
  return { done: false, detail: `${st.phase ?? "Pending"}${waiting?.reason ? ` (${waiting.reason})` : ""}` };
}
