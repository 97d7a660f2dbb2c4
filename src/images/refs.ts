// Image references: where they hide in Helm values and rendered manifests, and their
// normal form. Pure.

export interface Found {
  ref: string;
  file: string;
  path: string;
}

/** docker.io/library defaults, :latest when neither tag nor digest. */
export function normalizeRef(input: string): string {
  let ref = input.trim();
  let digest = "";
  const at = ref.indexOf("@");
  if (at >= 0) [ref, digest] = [ref.slice(0, at), ref.slice(at)];
  const slash = ref.indexOf("/");
  const first = slash >= 0 ? ref.slice(0, slash) : "";
  let registry = "docker.io";
  let rest = ref;
  if (slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    registry = first;
    rest = ref.slice(slash + 1);
  }
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = "docker.io";
  let tag = "";
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) [rest, tag] = [rest.slice(0, colon), rest.slice(colon + 1)];
  if (registry === "docker.io" && !rest.includes("/")) rest = `library/${rest}`;
  if (!tag && !digest) tag = "latest";
  return `${registry}/${rest.toLowerCase()}${tag ? `:${tag}` : ""}${digest}`;
}

const REF = /^[a-z0-9]([a-z0-9._\-/:]*[a-z0-9_])?(@sha256:[0-9a-f]{64})?$/i;
export function looksLikeImage(v: string): boolean {
  return REF.test(v.trim()) && !v.includes("://") && !/^\d+(\.\d+)*$/.test(v.trim());
}

type Node = unknown;
const isObj = (v: Node): v is Record<string, Node> => typeof v === "object" && v !== null && !Array.isArray(v);
const scalar = (v: Node) => (typeof v === "string" || typeof v === "number" ? String(v) : undefined);

/** Every image reference in a Helm values tree: `image: repo:tag`, maps with registry/repository/tag/digest, lists, nested charts. */
export function imagesInValues(values: Node, file: string): Found[] {
  const out: Found[] = [];
  const globalRegistry = isObj(values) && isObj(values.global) ? scalar(values.global.imageRegistry) : undefined;
  const walk = (node: Node, path: string) => {
    if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${path}[${i}]`));
    if (!isObj(node)) return;
    const repo = scalar(node.repository);
    if (repo && looksLikeImage(repo)) {
      const registry = scalar(node.registry) || (repo.split("/")[0].includes(".") ? "" : globalRegistry ?? "");
      const tag = scalar(node.tag);
      const digest = scalar(node.digest);
      let ref = `${registry ? `${registry.replace(/\/$/, "")}/` : ""}${repo}`;
      if (tag) ref += `:${tag}`;
      if (digest) ref += `@${digest}`;
      out.push({ ref: normalizeRef(ref), file, path: path || "." });
    }
    for (const [k, v] of Object.entries(node)) {
      const p = path ? `${path}.${k}` : k;
      const s = typeof v === "string" ? v : undefined;
      if (s && /(^image$|Image$)/.test(k) && looksLikeImage(s)) {
        const registry = isObj(node) && scalar(node.registry) && !s.split("/")[0].includes(".") ? `${scalar(node.registry)}/` : "";
        const tag = scalar(node.tag);
        out.push({ ref: normalizeRef(`${registry}${s}${tag && !s.includes(":") && !s.includes("@") ? `:${tag}` : ""}`), file, path: p });
      } else walk(v, p);
    }
  };
  walk(values, "");
  return out;
}

/** Every `image:` of every container in rendered manifests (helm template output). */
export function imagesInManifests(docs: Node[], file: string): Found[] {
  const out: Found[] = [];
  const walk = (node: Node, path: string) => {
    if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${path}[${i}]`));
    if (!isObj(node)) return;
    for (const [k, v] of Object.entries(node)) {
      const p = path ? `${path}.${k}` : k;
      if (k === "image" && typeof v === "string" && looksLikeImage(v)) out.push({ ref: normalizeRef(v), file, path: p });
      else walk(v, p);
    }
  };
  docs.forEach((d, i) => {
    const name = isObj(d) && isObj(d.metadata) ? `${scalar(d.kind) ?? "?"}/${scalar(d.metadata.name) ?? "?"}` : `doc${i}`;
    walk(d, name);
  });
  return out;
}

export interface Listed {
  ref: string;
  sources: { file: string; path: string }[];
}

export function dedupe(found: Found[]): Listed[] {
  const map = new Map<string, Listed>();
  for (const f of found) {
    const e = map.get(f.ref) ?? { ref: f.ref, sources: [] };
    e.sources.push({ file: f.file, path: f.path });
    map.set(f.ref, e);
  }
  return [...map.values()].sort((a, b) => a.ref.localeCompare(b.ref));
}

/** An image reference split as the container runtime reads it. */
export interface ImageRef {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

// The distribution reference grammar (github.com/distribution/reference), anchored.
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN = "(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?";
const STRICT = new RegExp(`^(?:(${DOMAIN})/)?(${COMPONENT}(?:/${COMPONENT})*)(?::([\\w][\\w.-]{0,127}))?(?:@([a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}))?$`);

/**
 * Strict parse of what a Pod's `image:` may hold; undefined for anything else (`false`, `IfNotPresent`,
 * `nginx:` with an empty tag, a URL). The first component is a registry only when it has a dot, a
 * port or is localhost, as Docker decides.
 */
export function parseImageRef(input: string): ImageRef | undefined {
  const s = input.trim();
  if (!s || s.length > 512 || /^(true|false|null|none|yes|no)$/i.test(s)) return undefined;
  const m = STRICT.exec(s);
  if (!m) return undefined;
  let [, domain, path, tag, digest] = m;
  if (domain && !(domain.includes(".") || domain.includes(":") || domain === "localhost" || domain !== domain.toLowerCase())) {
    path = `${domain}/${path}`;
    domain = "";
  }
  if (domain && !/^[a-z0-9]/.test(path)) return undefined;
  let registry = domain || "docker.io";
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") registry = "docker.io";
  if (!STRICT.test(path) || path !== path.toLowerCase()) return undefined;
  if (registry === "docker.io" && !path.includes("/")) path = `library/${path}`;
  return { registry, repository: path, tag: tag || undefined, digest: digest || undefined };
}

/** registry/repository[:tag][@digest]; `:latest` only when asked (neither tag nor digest). */
export function formatImageRef(r: ImageRef, latestWhenBare = true): string {
  const tag = r.tag ?? (r.digest || !latestWhenBare ? "" : "latest");
  return `${r.registry}/${r.repository}${tag ? `:${tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}
