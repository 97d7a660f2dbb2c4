// Which values an image came from: the leaves of the chart's coalesced values whose text is a part
// of the rendered reference (registry, repository, tag, digest), grouped under one parent. Pure;
// a best effort that only informs (the reference itself comes from the rendered manifest).

import type { RenderResponse } from "./engine.ts";
import type { Hit } from "./extract.ts";

/** shop/charts/cache/templates/x.yaml → shop/charts/cache */
export function chartOfTemplate(template: string): string {
  const i = template.lastIndexOf("/templates/");
  return i >= 0 ? template.slice(0, i) : template.split("/")[0];
}

/** Values path prefix of a chart: shop → "", shop/charts/a/charts/b → "a.b." */
export function scopePrefix(chartPath: string): string {
  const parts = chartPath.split("/charts/").slice(1);
  return parts.length ? `${parts.join(".")}.` : "";
}

interface Leaf {
  path: string;
  value: string;
}

function leaves(node: unknown, p: string, out: Leaf[]): Leaf[] {
  if (Array.isArray(node)) node.forEach((v, i) => leaves(v, `${p}[${i}]`, out));
  else if (node && typeof node === "object") for (const [k, v] of Object.entries(node)) leaves(v, p ? `${p}.${k}` : k, out);
  else if (typeof node === "string" || typeof node === "number") out.push({ path: p, value: String(node).trim() });
  return out;
}

function parentOf(p: string): string {
  const i = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
  return i > 0 ? p.slice(0, i) : "";
}

interface Parts {
  raw: string;
  nameTag: string;
  registry: string;
  repo: string;
  name: string;
  tag: string;
  digest: string;
}

/** The parts of a reference as written. */
function split(raw: string): Parts {
  const [nameTag, digest = ""] = raw.split("@");
  const slash = nameTag.indexOf("/");
  const first = slash > 0 ? nameTag.slice(0, slash) : "";
  const registry = /[.:]|^localhost$/.test(first) ? first : "";
  const rest = registry ? nameTag.slice(slash + 1) : nameTag;
  const colon = rest.lastIndexOf(":");
  const hasTag = colon > rest.lastIndexOf("/");
  const repo = hasTag ? rest.slice(0, colon) : rest;
  return { raw, nameTag, registry, repo, name: repo.split("/").pop() ?? "", tag: hasTag ? rest.slice(colon + 1) : "", digest };
}

/** Every piece of text a values leaf could hold for this reference. */
function pieces(p: Parts): string[] {
  const out = [p.raw, p.nameTag, p.registry, p.repo, p.name, p.tag, p.digest, p.digest.replace(/^sha256:/, "")];
  if (p.registry) out.push(`${p.registry}/${p.repo}`);
  if (p.repo.includes("/")) out.push(p.repo.slice(0, p.repo.lastIndexOf("/")));
  return out.filter((x) => x.length >= 2);
}

export function attribute(hit: Hit, chartPath: string, info: RenderResponse): string[] {
  const prefix = scopePrefix(chartPath);
  const all = leaves(info.values ?? {}, "", []);
  const p = split(hit.raw);
  const wanted = new Set(pieces(p));
  const matches = all.filter((l) => wanted.has(l.value) && (l.path.startsWith(prefix) || l.path.startsWith("global.") || /\.global\./.test(l.path)));
  const groups = new Map<string, Leaf[]>();
  for (const m of matches) {
    if (m.path.startsWith("global.") || m.path.includes(".global.")) continue;
    const g = groups.get(parentOf(m.path)) ?? [];
    g.push(m);
    groups.set(parentOf(m.path), g);
  }
  // A group names the image only when it holds the repository, its name or the whole reference.
  const naming = new Set([p.raw, p.nameTag, p.repo, p.name, p.registry ? `${p.registry}/${p.repo}` : ""].filter(Boolean));
  const score = (ls: Leaf[]) => (ls.some((l) => l.value === p.raw) ? 100 : 0) + new Set(ls.map((l) => l.value)).size * 10 + (/image/i.test(ls[0].path) ? 5 : 0) - ls[0].path.length / 1000;
  const best = [...groups.values()].filter((ls) => ls.some((l) => naming.has(l.value))).sort((a, b) => score(b) - score(a))[0] ?? [];
  const out = best.map((l) => l.path);
  const covered = new Set(best.map((l) => l.value));
  const globalReg = p.registry && !covered.has(p.registry) ? matches.find((m) => (m.path.startsWith("global.") || m.path.includes(".global.")) && m.value === p.registry) : undefined;
  if (globalReg) out.push(globalReg.path.replace(/^.*?(global\.)/, "$1"));
  const tag = hit.image.tag;
  const chart = info.charts?.find((c) => c.path === chartPath);
  if (tag && !covered.has(tag) && chart && (tag === chart.appVersion || tag === `v${chart.appVersion}`)) out.push(`${chartPath} Chart.yaml appVersion`);
  return out;
}
