// Which workloads `inject` changes: --select KIND/NAME (kubectl's kind names and short
// names), -l/--selector (kubectl's label selector syntax) and --namespace. Pure.

import { UsageError } from "../errors.ts";
import type { Workload } from "./workloads.ts";

const KIND_NAMES: Record<string, string[]> = {
  Pod: ["po", "pod", "pods"],
  Deployment: ["deploy", "deployment", "deployments"],
  StatefulSet: ["sts", "statefulset", "statefulsets"],
  DaemonSet: ["ds", "daemonset", "daemonsets"],
  ReplicaSet: ["rs", "replicaset", "replicasets"],
  ReplicationController: ["rc", "replicationcontroller", "replicationcontrollers"],
  Job: ["job", "jobs"],
  CronJob: ["cj", "cronjob", "cronjobs"],
};

/** "deploy" → "Deployment"; kinds are case-insensitive, with an optional group ("deployment.apps", "jobs.v1.batch"). */
export function canonicalKind(text: string): string | undefined {
  const k = text.toLowerCase().replace(/(\.v\d+\w*)?\.(apps|batch|core)$/, "");
  return Object.entries(KIND_NAMES).find(([, names]) => names.includes(k))?.[0];
}

export interface KindName {
  kind: string;
  name: string;
  text: string;
}

export function parseSelect(text: string): KindName {
  const m = /^([^/]+)\/([^/]+)$/.exec(text);
  const kind = m ? canonicalKind(m[1]) : undefined;
  if (!m) throw new UsageError(`--select ${JSON.stringify(text)} is not KIND/NAME`, "write --select deployment/NAME (or deploy/NAME, sts/NAME, ...)");
  if (!kind) throw new UsageError(`--select ${JSON.stringify(text)}: ${m[1]} is not a workload kind`, `use one of: ${Object.values(KIND_NAMES).map((n) => n[0]).join(", ")} (or the full kind name)`);
  return { kind, name: m[2], text };
}

export type Requirement =
  | { key: string; op: "=" | "!="; value: string }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!" };

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;
const VALUE = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?$/;

/** Split at commas outside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim());
}

/** kubectl's selector syntax: a=b, a==b, a!=b, a in (x,y), a notin (x), a, !a; comma means AND. */
export function parseSelector(text: string): Requirement[] {
  const bad = (t: string, why: string) => new UsageError(`-l ${JSON.stringify(text)}: ${JSON.stringify(t)} ${why}`, "write a kubectl label selector such as app=web,tier!=cache,env in (prod,staging)");
  return terms(text).map((t): Requirement => {
    let m: RegExpExecArray | null;
    const key = (k: string) => {
      if (!KEY.test(k)) throw bad(t, "has an invalid label key");
      return k;
    };
    const value = (v: string) => {
      if (!VALUE.test(v)) throw bad(t, "has an invalid label value");
      return v;
    };
    if ((m = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(t))) return { key: key(m[1]), op: m[2] as "in" | "notin", values: m[3].split(",").map((v) => value(v.trim())) };
    if ((m = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(t))) return { key: key(m[1]), op: m[2] === "!=" ? "!=" : "=", value: value(m[3]) };
    if ((m = /^!\s*(\S+)$/.exec(t))) return { key: key(m[1]), op: "!" };
    if (/^\S+$/.test(t)) return { key: key(t), op: "exists" };
    throw bad(t, "is not a requirement");
  });
}

export function matchesSelector(labels: Record<string, string>, reqs: Requirement[]): boolean {
  return reqs.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.op) {
      case "=":
        return has && labels[r.key] === r.value;
      case "!=":
        return !has || labels[r.key] !== r.value;
      case "in":
        return has && r.values.includes(labels[r.key]);
      case "notin":
        return !has || !r.values.includes(labels[r.key]);
      case "exists":
        return has;
      case "!":
        return !has;
    }
  });
}

export interface Selection {
  select: KindName[];
  selector: Requirement[];
  namespace?: string;
}

export function selected(w: Workload, s: Selection): boolean {
  if (s.select.length && !s.select.some((k) => k.kind === w.kind && k.name === w.name)) return false;
  if (s.namespace !== undefined && w.namespace !== s.namespace) return false;
  return matchesSelector(w.labels, s.selector);
}
