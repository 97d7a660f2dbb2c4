// The helm route: `helm template` with the same inputs, when a helm binary is on PATH. Exact by
// construction; its output is split back into files by the `# Source:` line helm writes.

import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { UsageError } from "../../errors.ts";
import type { RenderedFile } from "./extract.ts";

/** One line of reasonable length: a chain of nested include errors keeps its start and its cause. */
export function shorten(msg: string, max = 600): string {
  const one = msg.replace(/\s*\n\s*/g, " ");
  return one.length <= max ? one : `${one.slice(0, 250)} … ${one.slice(-300)}`;
}

export interface HelmInputs {
  chart: string;
  values: string[];
  set: string[];
  setString: string[];
  setJson: string[];
  releaseName?: string;
  namespace?: string;
  kubeVersion?: string;
  apiVersions: string[];
}

/** helm on PATH (HELM_BIN wins), or undefined. */
export function findHelm(env: NodeJS.ProcessEnv): string | undefined {
  if (env.HELM_BIN) return env.HELM_BIN;
  for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    const f = path.join(dir, "helm");
    try {
      fs.accessSync(f, fs.constants.X_OK);
      if (fs.statSync(f).isFile()) return f;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export function helmArgs(i: HelmInputs): string[] {
  const args = ["template", i.releaseName ?? "release-name", i.chart];
  for (const f of i.values) args.push("--values", f);
  for (const s of i.setJson) args.push("--set-json", s);
  for (const s of i.set) args.push("--set", s);
  for (const s of i.setString) args.push("--set-string", s);
  if (i.namespace) args.push("--namespace", i.namespace);
  if (i.kubeVersion) args.push("--kube-version", i.kubeVersion);
  for (const a of i.apiVersions) args.push("--api-versions", a);
  return args;
}

/** Splits `helm template` output into the files it came from. */
export function splitHelmOutput(out: string): RenderedFile[] {
  const byName = new Map<string, string[]>();
  for (const doc of out.split(/^---[ \t]*$/m)) {
    const m = /^# Source: (.+)$/m.exec(doc);
    if (!m) continue;
    const list = byName.get(m[1]) ?? [];
    list.push(doc);
    byName.set(m[1], list);
  }
  return [...byName].map(([name, docs]) => ({ name, content: docs.join("\n---\n") }));
}

export function renderWithHelm(helm: string, i: HelmInputs, env: NodeJS.ProcessEnv): Promise<RenderedFile[]> {
  return new Promise((resolve, reject) => {
    execFile(helm, helmArgs(i), { env, maxBuffer: 512 * 1024 * 1024, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) {
        const msg = String(stderr).trim().split("\n").filter(Boolean).pop() ?? err.message;
        reject(new UsageError(`helm template failed: ${shorten(msg)}`, "fix the chart or values (the message is helm's), or try --render builtin"));
      } else resolve(splitHelmOutput(String(stdout)));
    });
  });
}
