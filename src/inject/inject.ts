// `download-package inject`: add the init container to existing workloads. Pure: YAML text
// in, YAML text out. Selected workload documents (Lists included) get the emptyDir volume,
// the init container and read-only mounts, written as insertions into the original text;
// other documents pass through byte for byte, and a second run changes nothing.

import { UsageError } from "../errors.ts";
import { ConflictError, podSpecPatch, type PodPatchOptions } from "./pod-spec.ts";
import { selected, type Selection } from "./select.ts";
import { findWorkloads } from "./workloads.ts";
import { editDocument, parseYaml, toData } from "./yaml-edit.ts";

export { POD_SPEC_PATHS } from "./workloads.ts";
export { initContainer, TOKEN_DIR } from "./pod-spec.ts";

export interface InjectOptions extends PodPatchOptions {
  selection: Selection;
}

export interface InjectResult {
  text: string;
  changed: { kind: string; name: string }[];
  /** One line per node that had to be un-shared (alias, merge key) to keep the change local. */
  notes: string[];
}

/** Split a YAML stream at its document markers, keeping every byte (a column-0 '---' is always a marker). */
export function splitDocuments(source: string): { marker: string; body: string }[] {
  const parts: { marker: string; body: string }[] = [];
  let cur = { marker: "", body: "" };
  for (const line of source.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    if (/^---(\s|$)/.test(line)) {
      // Directives (%YAML, %TAG) belong to the document their marker starts.
      const directivesOnly = !cur.marker && /^%/m.test(cur.body) && cur.body.split("\n").every((l) => /^(%|#|\s*$)/.test(l));
      if (directivesOnly) cur = { marker: cur.body + line, body: "" };
      else {
        if (cur.marker || cur.body) parts.push(cur);
        cur = { marker: line, body: "" };
      }
    } else cur.body += line;
  }
  if (cur.marker || cur.body) parts.push(cur);
  return parts;
}

/** Line number (1-based) in the whole stream of a document's first line, for messages. */
const lineOf = (source: string, offset: number) => source.slice(0, offset).split("\n").length;

export function inject(source: string, o: InjectOptions): InjectResult {
  const changed: InjectResult["changed"] = [];
  const notes: string[] = [];
  const seen = new Set<string>();
  let text = "";
  let offset = 0;
  for (const { marker, body } of splitDocuments(source)) {
    // A marker line may carry content ("--- !tag" or "--- {a: 1}"): parse it with the body.
    let doc = marker + body;
    const parsed = parseYaml(doc);
    if (parsed.errors.length) throw new UsageError(`YAML error in the document at line ${lineOf(source, offset)}: ${parsed.errors[0].message.split("\n")[0]}`, "fix the input YAML");
    let data: unknown;
    try {
      data = toData(parsed);
    } catch (e) {
      throw new UsageError(`YAML error in the document at line ${lineOf(source, offset)}: ${(e as Error).message}`, "fix the input YAML (an alias bomb is refused)");
    }
    for (const w of findWorkloads(data)) {
      seen.add(`${w.kind}/${w.name}`);
      if (!selected(w, o.selection)) continue;
      const id = `${w.kind}/${w.name}`;
      let ops;
      try {
        ops = podSpecPatch(w.spec, o);
      } catch (e) {
        if (e instanceof ConflictError) throw new ConflictError(`${id}: ${e.message}`, e.hint);
        throw e;
      }
      if (!ops.length) continue;
      doc = editDocument(doc, ops.map((op) => ({ ...op, path: [...w.specPath, ...op.path] })), (n) => notes.push(`${id}: ${n}`));
      changed.push({ kind: w.kind, name: w.name });
    }
    text += doc;
    offset += marker.length + body.length;
  }
  const unmatched = o.selection.select.filter((s) => !seen.has(`${s.kind}/${s.name}`));
  if (unmatched.length) throw new UsageError(`--select ${unmatched.map((s) => s.text).join(", ")}: no such workload in the input`, "check the kind and name (kubectl get KIND NAME), or drop the --select");
  return { text, changed, notes };
}
