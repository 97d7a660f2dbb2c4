// `images hook`: the Helm hook's controller. It reads the node list at run time, creates one
// importer Pod bound by name to every selected node, waits for each, prints a table, and
// fails naming every node that did not get the images. Its Pods are kept after success (the
// report), and replaced by the next run.

import { parse } from "yaml";
import { AppError, ExitCode, SignalError, UsageError } from "../errors.ts";
import { exclusion, LABEL_HOOK, LABEL_RUN, labelValue, podFor, podName, verdict, type Node, type PodStatus, type PodTemplate } from "./hook-plan.ts";
import type { Io } from "./import.ts";
import { Kube, type KubeConfig } from "./kube.ts";
import { table } from "./report.ts";
import { readRegular } from "./store.ts";

export interface HookOptions extends KubeConfig {
  namespace: string;
  templateFile: string;
  prefix: string;
  runId: string;
  timeoutMs: number;
  pollMs: number;
}

interface Target {
  node: string;
  pod: string;
  result: "imported" | "failed" | "not selected" | "waiting";
  detail: string;
}

function readTemplate(file: string): PodTemplate {
  let t: PodTemplate;
  try {
    t = parse(readRegular(file, 1 << 20)) as PodTemplate;
  } catch (e) {
    throw new UsageError(`--pod-template ${file}: ${(e as Error).message.split("\n")[0]}`, "the chart renders it into the hook's ConfigMap");
  }
  if (!t || typeof t !== "object" || !t.spec || typeof t.spec !== "object") throw new UsageError(`--pod-template ${file} has no spec`, "give a Pod (or Pod template) with a spec");
  return t;
}

const sel = (s: Record<string, string>) => Object.entries(s).map(([k, v]) => `${k}=${v}`).join(",");
const q = (s: string) => encodeURIComponent(s);

async function plan(kube: Kube, t: PodTemplate, o: HookOptions): Promise<Target[]> {
  const selector = t.spec.nodeSelector ?? {};
  const list = await kube.must<{ items: Node[] }>("GET", `/api/v1/nodes${Object.keys(selector).length ? `?labelSelector=${q(sel(selector))}` : ""}`);
  return list.items.map((n) => {
    const why = exclusion(n, selector, t.spec.tolerations ?? []);
    const name = n.metadata.name;
    return why ? { node: name, pod: "", result: "not selected", detail: why } : { node: name, pod: podName(o.prefix, o.runId, name), result: "waiting", detail: "" };
  });
}

/** Pods of earlier runs of this hook go: the newest report replaces the last one. */
async function removeEarlier(kube: Kube, o: HookOptions) {
  const base = `/api/v1/namespaces/${q(o.namespace)}/pods`;
  const old = await kube.must<{ items: PodStatus[] }>("GET", `${base}?labelSelector=${q(`${LABEL_HOOK}=${labelValue(o.prefix)}`)}`);
  for (const p of old.items) await kube.must("DELETE", `${base}/${q(p.metadata.name)}`, undefined, [404]);
}

async function waitAll(kube: Kube, targets: Target[], o: HookOptions, io: Io) {
  const base = `/api/v1/namespaces/${q(o.namespace)}/pods?labelSelector=${q(`${LABEL_HOOK}=${labelValue(o.prefix)},${LABEL_RUN}=${labelValue(o.runId)}`)}`;
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const pods = new Map((await kube.must<{ items: PodStatus[] }>("GET", base)).items.map((p) => [p.metadata.name, p]));
    const open = targets.filter((t) => t.result === "waiting");
    for (const t of open) {
      const v = verdict(pods.get(t.pod));
      if (v.done) {
        t.result = v.ok ? "imported" : "failed";
        t.detail = v.detail;
        io.log(`node ${t.node}: ${t.result}${v.detail ? ` (${v.detail})` : ""}`);
      } else t.detail = v.detail;
    }
    if (!targets.some((t) => t.result === "waiting")) return;
    if (Date.now() > deadline) {
      for (const t of targets.filter((x) => x.result === "waiting")) [t.result, t.detail] = ["failed", `not finished after ${Math.round(o.timeoutMs / 1000)}s: ${t.detail}`];
      return;
    }
    await new Promise((r) => setTimeout(r, o.pollMs));
    if (io.signal.aborted) throw io.signal.reason;
  }
}

export async function runHook(o: HookOptions, io: Io): Promise<number> {
  const template = readTemplate(o.templateFile);
  const kube = new Kube(o, io.signal);
  const targets = await plan(kube, template, o);
  const selected = targets.filter((t) => t.result === "waiting");
  if (selected.length === 0) {
    io.out(table(["NODE", "POD", "RESULT", "DETAIL"], targets.map((t) => [t.node, t.pod, t.result, t.detail])));
    throw new AppError(ExitCode.partial, "no node is selected for the image import: no image reached any node", "check imagePull.nodeSelector and imagePull.tolerations against the nodes (kubectl get nodes --show-labels)");
  }
  await removeEarlier(kube, o);
  try {
    for (const t of selected) {
      const pod = podFor(template, { name: t.pod, namespace: o.namespace, node: t.node, hook: o.prefix, runId: o.runId });
      await kube.must("POST", `/api/v1/namespaces/${q(o.namespace)}/pods`, pod);
      io.log(`created Pod ${t.pod} on node ${t.node}`);
    }
    await waitAll(kube, targets, o, io);
  } finally {
    io.out(table(["NODE", "POD", "RESULT", "DETAIL"], targets.map((t) => [t.node, t.pod, t.result, t.detail])));
  }
  if (io.signal.aborted) throw io.signal.reason instanceof SignalError ? io.signal.reason : new SignalError("SIGTERM");
  const failed = targets.filter((t) => t.result === "failed").map((t) => t.node);
  io.out(`imported on ${selected.length - failed.length} of ${selected.length} selected nodes; ${targets.length - selected.length} not selected\n`);
  if (failed.length) throw new AppError(ExitCode.partial, `the images did not reach ${failed.length} of ${selected.length} nodes: ${failed.join(", ")}`, "see the table and each node's Pod log (kubectl logs POD)");
  return ExitCode.ok;
}
