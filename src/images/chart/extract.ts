// Images the cluster pulls, read from rendered manifests: containers of every workload kind,
// operator custom resources (`image`, with `version`/`tag` beside a bare one), image flags in
// container args, RELATED_IMAGE-style env, image keys and flags inside ConfigMaps. Only strings
// that parse as image references count. Pure.

import { parseAllDocuments } from "yaml";
import { parseImageRef, type ImageRef } from "../refs.ts";

export interface RenderedFile {
  /** Template name as helm prints it in `# Source:` (chart/charts/sub/templates/x.yaml). */
  name: string;
  content: string;
}

export interface Hit {
  image: ImageRef;
  /** The text the manifest holds (before normalising). */
  raw: string;
  template: string;
  object: string;
  path: string;
  /** helm test hook: not pulled by an install. */
  test: boolean;
}

export interface Problem {
  template: string;
  object: string;
  path: string;
  message: string;
}

type Node = unknown;
const isObj = (v: Node): v is Record<string, Node> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: Node) => (typeof v === "string" ? v : undefined);

/** Splits a rendered template the way helm does (lines starting with ---). */
export function splitDocuments(content: string): string[] {
  return content.trimStart().split(/^---[ \t]*/m).filter((d) => d.trim() !== "");
}

const FLAG = /(?:^|\s)--([a-z0-9-]*image[a-z0-9-]*|prometheus-config-reloader)=["']?([^\s"',]+)/g;
const TEXT_KEY = /^[ \t-]*["']?([A-Za-z0-9_.-]*(?:image|Image|IMAGE))["']?[ \t]*[:=][ \t]*["']?([^\s"',#]+)/gm;

/** A reference found in free text (args, ConfigMap data): needs a tag, digest or path to count. */
function textRef(s: string): ImageRef | undefined {
  const r = parseImageRef(s);
  if (!r) return undefined;
  return r.tag || r.digest || s.includes("/") ? r : undefined;
}

export function extractImages(files: RenderedFile[]): { hits: Hit[]; problems: Problem[] } {
  const hits: Hit[] = [];
  const problems: Problem[] = [];
  for (const f of files) {
    for (const text of splitDocuments(f.content)) {
      let docs;
      try {
        docs = parseAllDocuments(text, { uniqueKeys: false });
      } catch {
        continue;
      }
      for (const d of Array.isArray(docs) ? docs : [docs]) {
        if (d.errors.length) {
          problems.push({ template: f.name, object: "?", path: "", message: `not valid YAML: ${d.errors[0].message.split("\n")[0]}` });
          continue;
        }
        scanObject(d.toJS(), f.name, hits, problems);
      }
    }
  }
  return { hits, problems };
}

function objectName(doc: Record<string, Node>): string {
  const meta = isObj(doc.metadata) ? doc.metadata : {};
  return `${str(doc.kind) ?? "?"}/${str(meta.name) ?? "?"}`;
}

function isTestHook(doc: Record<string, Node>): boolean {
  const ann = isObj(doc.metadata) && isObj(doc.metadata.annotations) ? doc.metadata.annotations : {};
  const hook = str(ann["helm.sh/hook"]) ?? "";
  return hook.split(",").some((h) => /^test(-success|-failure)?$/.test(h.trim()));
}

function scanObject(doc: Node, template: string, hits: Hit[], problems: Problem[]): void {
  if (!isObj(doc)) return;
  if (doc.kind === "List" && Array.isArray(doc.items)) return doc.items.forEach((i) => scanObject(i, template, hits, problems));
  const object = objectName(doc);
  const test = isTestHook(doc);
  const add = (image: ImageRef, raw: string, path: string) => hits.push({ image, raw, template, object, path, test });
  const walk = (node: Node, path: string, parent: Record<string, Node> | undefined) => {
    if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${path}[${i}]`, parent));
    if (!isObj(node)) {
      if (typeof node === "string" && /(^|\.)(args|command)\[\d+\]$/.test(path)) flags(node, path);
      return;
    }
    for (const [k, v] of Object.entries(node)) {
      const p = path ? `${path}.${k}` : k;
      if (/^(image|[a-zA-Z0-9]*Image)$/.test(k) && (typeof v === "string" || isObj(v))) imageField(node, k, v, p);
      else if (k === "env" && Array.isArray(v)) env(v, p);
      else if (k === "data" && doc.kind === "ConfigMap" && isObj(v)) configData(v, p);
      else walk(v, p, node);
    }
  };
  const imageField = (holder: Record<string, Node>, key: string, v: Node, p: string) => {
    if (isObj(v)) {
      const repo = str(v.repository) ?? str(v.name);
      if (!repo) return walk(v, p, holder);
      const reg = str(v.registry);
      const raw = `${reg ? `${reg}/` : ""}${repo}${str(v.tag) ? `:${str(v.tag)}` : ""}${str(v.digest) ? `@${str(v.digest)}` : ""}`;
      const r = parseImageRef(raw);
      if (r) add(r, raw, p);
      return;
    }
    const s = (v as string).trim();
    if (s === "") return;
    let r = parseImageRef(s);
    // Operator custom resources (Prometheus, Alertmanager...): a bare image with its version beside it.
    if (r && key === "image" && !r.tag && !r.digest && !isContainer(holder)) {
      const version = str(holder.tag) ?? str(holder.version);
      const sha = str(holder.sha);
      if (version && parseImageRef(`${s}:${version}`)) r = parseImageRef(`${s}:${version}`);
      if (sha && /^[0-9a-f]{64}$/.test(sha)) r = { ...r!, digest: `sha256:${sha}` };
    }
    if (r) add(r, s, p);
    else if (/:$|:@/.test(s) || /[:/]$/.test(s)) problems.push({ template, object, path: p, message: `image ${JSON.stringify(s)} has an empty tag or name: a value is missing` });
  };
  const flags = (s: string, p: string) => {
    for (const m of s.matchAll(FLAG)) {
      const r = textRef(m[2]);
      if (r) add(r, m[2], `${p} (--${m[1]})`);
    }
  };
  const env = (list: Node[], p: string) => {
    list.forEach((e, i) => {
      if (!isObj(e)) return;
      const name = str(e.name) ?? "";
      const value = str(e.value);
      if (value && /IMAGE/i.test(name)) {
        const r = textRef(value);
        if (r) add(r, value, `${p}[${i}] (${name})`);
      } else if (value) flags(value, `${p}[${i}]`);
    });
  };
  const configData = (data: Record<string, Node>, p: string) => {
    for (const [k, v] of Object.entries(data)) {
      const s = str(v);
      if (!s) continue;
      if (/(^|[^a-z])image$|Image$|IMAGE$/.test(k)) {
        const r = textRef(s.trim());
        if (r) {
          add(r, s.trim(), `${p}.${k}`);
          continue;
        }
      }
      for (const m of s.matchAll(TEXT_KEY)) {
        const r = textRef(m[2]);
        if (r) add(r, m[2], `${p}.${k} (${m[1]})`);
      }
      flags(s, `${p}.${k}`);
    }
  };
  walk(doc, "", undefined);
}

/** A Kubernetes container (name + image, maybe command/args/ports): its image needs no version beside it. */
function isContainer(o: Record<string, Node>): boolean {
  return typeof o.name === "string" && ("imagePullPolicy" in o || "ports" in o || "args" in o || "command" in o || "resources" in o || "env" in o || "volumeMounts" in o || !("version" in o || "tag" in o));
}
