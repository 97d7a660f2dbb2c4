// `images list --chart`: render the chart (helm template, or the built-in engine) and read every
// image the install pulls from the result, saying where each came from. Warnings (a missing tag,
// a tag written as a YAML number, a difference with artifacthub.io/images) go back to the caller.

import path from "node:path";
import { parseDocument } from "yaml";
import { UsageError } from "../../errors.ts";
import { formatImageRef, parseImageRef } from "../refs.ts";
import { attribute, chartOfTemplate, scopePrefix } from "./attribute.ts";
import { renderBuiltin, type RenderResponse } from "./engine.ts";
import { extractImages, type Hit, type RenderedFile } from "./extract.ts";
import { findHelm, renderWithHelm, shorten, type HelmInputs } from "./helm.ts";
import { FileProblem, readRegular } from "../store.ts";
import { readChart } from "./source.ts";

export interface ChartOptions extends Omit<HelmInputs, "chart"> {
  charts: string[];
  render: "auto" | "helm" | "builtin";
  all: boolean;
}

export interface ChartSourceRef {
  file: string;
  path: string;
  chart: string;
  template: string;
  object: string;
  values?: string[];
}

export interface ChartImage {
  ref: string;
  sources: ChartSourceRef[];
  /** Only pulled when a disabled subchart is enabled (--all). */
  disabled?: string;
  /** Only pulled by `helm test` (--all). */
  test?: boolean;
}

export interface ChartListing {
  images: ChartImage[];
  warnings: string[];
  renderer: string;
}

/** The chart and -f files, read once: only regular files (a FIFO or /dev/zero is a usage error, never read). */
function builtinRequest(chart: string, o: ChartOptions, all: boolean) {
  const src = readChart(chart);
  const values = o.values.map((f) => {
    try {
      return { name: f, text: readRegular(f) };
    } catch (e) {
      const why = e instanceof FileProblem ? e.message : String((e as NodeJS.ErrnoException).code ?? e);
      throw new UsageError(`cannot read values file ${f}: ${why}`, "give -f/--values a regular YAML file (a FIFO, a device or a directory is not read)");
    }
  });
  return {
    files: src.files?.map((f) => ({ name: f.name, data: f.data.toString("base64") })),
    archive: src.archive?.toString("base64"),
    values, set: o.set, setString: o.setString, setJson: o.setJson,
    releaseName: o.releaseName, namespace: o.namespace, kubeVersion: o.kubeVersion, apiVersions: o.apiVersions, all,
  };
}

type BuiltinRequest = ReturnType<typeof builtinRequest>;

async function builtin(chart: string, req: BuiltinRequest): Promise<RenderResponse> {
  const resp = await renderBuiltin(req);
  if (resp.error) {
    if (resp.usage) throw new UsageError(`${chart}: ${shorten(resp.error)}`, "fix the chart or the values (helm would fail the same way)");
    throw new Error(`${chart}: ${shorten(resp.error)}`);
  }
  return resp;
}

const renderable = (files: RenderedFile[]) => files.filter((f) => !f.name.endsWith("NOTES.txt") && f.content.trim() !== "");

export async function listChartImages(o: ChartOptions, env: NodeJS.ProcessEnv): Promise<ChartListing> {
  const helm = o.render === "builtin" ? undefined : findHelm(env);
  if (o.render === "helm" && !helm) throw new UsageError("--render helm: no helm on PATH", "install helm, set HELM_BIN, or use --render builtin");
  const out: ChartListing = { images: [], warnings: [], renderer: helm ? `helm (${helm})` : "builtin" };
  const byRef = new Map<string, ChartImage>();
  for (const chart of o.charts) {
    const mine = await listOne(chart, o, helm, env, out.warnings);
    for (const img of mine) {
      const cur = byRef.get(img.ref);
      if (!cur) byRef.set(img.ref, img);
      else merge(cur, img);
    }
  }
  out.images = [...byRef.values()].sort((a, b) => a.ref.localeCompare(b.ref));
  return out;
}

function merge(into: ChartImage, img: ChartImage): void {
  into.sources.push(...img.sources);
  if (!img.disabled) delete into.disabled;
  if (!img.test) delete into.test;
}

async function listOne(chart: string, o: ChartOptions, helm: string | undefined, env: NodeJS.ProcessEnv, warnings: string[]): Promise<ChartImage[]> {
  // The built-in render also gives the values, charts and numbers used for attribution.
  // Read before helm runs: helm would block on a FIFO given as the chart or a values file.
  const req = builtinRequest(chart, o, false);
  const info = helm ? await builtin(chart, req).catch(() => undefined) : await builtin(chart, req);
  const files = helm ? await renderWithHelm(helm, { ...o, chart }, env) : info!.manifests ?? [];
  const { hits, problems } = extractImages(renderable(files));
  for (const p of problems) warnings.push(`${p.template}: ${p.object} ${p.path}: ${p.message}`);
  for (const w of info?.warnings ?? []) warnings.push(`${chart}: ${w}`);
  const byRef = new Map<string, ChartImage>();
  for (const h of hits) if (!h.test || o.all) add(byRef, h, info, undefined);
  if (o.all && info?.disabled?.length) {
    const every = await builtin(chart, { ...req, all: true });
    for (const h of extractImages(renderable(every.manifests ?? [])).hits) {
      const c = chartOfTemplate(h.template);
      const d = info.disabled.find((x) => c === x.path || c.startsWith(`${x.path}/`));
      if (d && !byRef.has(formatImageRef(h.image))) add(byRef, h, every, `${d.path}: ${d.why || "disabled"}`);
    }
  }
  const images = [...byRef.values()];
  if (info) warnings.push(...checks(images, info, o, chart));
  return images;
}

function add(byRef: Map<string, ChartImage>, h: Hit, info: RenderResponse | undefined, disabled: string | undefined): void {
  const ref = formatImageRef(h.image);
  const chart = chartOfTemplate(h.template);
  const values = info ? attribute(h, chart, info) : undefined;
  const source = { file: h.template, path: `${h.object} ${h.path}`, chart, template: h.template.slice(chart.length + 1), object: h.object, ...(values?.length ? { values } : {}) };
  const img: ChartImage = { ref, sources: [source], ...(disabled ? { disabled } : {}), ...(h.test ? { test: true } : {}) };
  const cur = byRef.get(ref);
  if (cur) merge(cur, img);
  else byRef.set(ref, img);
}

/** Warnings: no tag (the cluster pulls :latest), numeric tags, artifacthub.io/images differences. */
function checks(images: ChartImage[], info: RenderResponse, o: ChartOptions, chart: string): string[] {
  const w: string[] = [];
  for (const img of images) {
    const src = img.sources[0];
    const tag = /:([^/@]+)(@|$)/.exec(img.ref.slice(img.ref.indexOf("/")))?.[1];
    const where = src.values?.length ? ` (values ${src.values.join(", ")})` : "";
    if (img.ref.endsWith(":latest") && !src.values?.some((v) => /tag|version/i.test(v))) {
      w.push(`${img.ref}: ${src.file} ${src.object} gives no tag, so the cluster pulls :latest${where}; set the tag in the values`);
    }
    for (const n of info.numbers ?? []) {
      const key = n.path.split(".").pop() ?? "";
      if (!tag || n.rendered !== tag || !/tag|version/i.test(key)) continue;
      const scope = scopePrefix(src.chart);
      if (!(n.path.startsWith(scope) || n.path.startsWith("global."))) continue;
      const orig = originalText(n.path, o.values, [chart]);
      w.push(`values ${n.path} is the YAML number ${orig ?? n.rendered}, which helm renders as ${n.rendered} (${img.ref}): quote it${orig && orig !== n.rendered ? ` ("${orig}")` : ""} if you meant a string`);
    }
  }
  for (const c of info.charts ?? []) {
    const ann = c.annotations?.["artifacthub.io/images"];
    if (!ann) continue;
    let listed: string[] = [];
    try {
      const doc = parseDocument(ann).toJS() as { image?: string }[];
      listed = (Array.isArray(doc) ? doc : []).map((x) => x?.image).filter((x): x is string => typeof x === "string");
    } catch {
      w.push(`${c.path}: Chart.yaml annotation artifacthub.io/images is not valid YAML`);
      continue;
    }
    const mine = images.filter((i) => !i.disabled && !i.test && i.sources.some((s) => s.chart === c.path || s.chart.startsWith(`${c.path}/`)));
    const norm = (s: string) => {
      const r = parseImageRefLoose(s);
      return r ?? s;
    };
    const have = new Set(mine.map((i) => i.ref));
    const want = new Set(listed.map(norm));
    for (const x of want) if (!have.has(x)) w.push(`${c.path}: Chart.yaml artifacthub.io/images lists ${x}, which the rendered chart does not pull`);
    for (const x of have) if (!want.has(x)) w.push(`${c.path}: the rendered chart pulls ${x}, which Chart.yaml artifacthub.io/images does not list`);
  }
  return w;
}

function parseImageRefLoose(s: string): string | undefined {
  const r = parseImageRef(s);
  return r ? formatImageRef(r) : undefined;
}

/** The literal a values file wrote at a path (1.10 where YAML read 1.1), from -f files or the chart's values.yaml. */
function originalText(p: string, files: string[], charts: string[]): string | undefined {
  const keys = p.split(".");
  const candidates = [...files].reverse().concat(charts.map((c) => path.join(c, "values.yaml")));
  for (const f of candidates) {
    try {
      const node = parseDocument(readRegular(f)).getIn(keys, true) as { source?: string } | undefined;
      if (node && typeof node.source === "string") return node.source;
    } catch {
      /* unreadable or not YAML: no original text */
    }
  }
  return undefined;
}
