// The chart inputs of `images list` / `images export`: their flags, and the listing they give
// merged with the other inputs (--manifests, --image, or --values scanned when there is no chart).

import { UsageError } from "../../errors.ts";
import type { Listed } from "../refs.ts";
import { listChartImages, type ChartImage } from "./list.ts";

export interface ChartArgs {
  charts: string[];
  set: string[];
  setString: string[];
  setJson: string[];
  releaseName?: string;
  releaseNamespace?: string;
  kubeVersion?: string;
  apiVersions: string[];
  render: string;
  all: boolean;
}

/** The setter of a chart flag, or undefined when `name` is not one. */
export function chartFlag(a: ChartArgs, name: string): ((v: string) => void) | undefined {
  const flags: Record<string, (v: string) => void> = {
    "--chart": (v) => a.charts.push(v),
    "--set": (v) => a.set.push(v),
    "--set-string": (v) => a.setString.push(v),
    "--set-json": (v) => a.setJson.push(v),
    "--release-name": (v) => (a.releaseName = v),
    "--namespace": (v) => (a.releaseNamespace = v),
    "-n": (v) => (a.releaseNamespace = v),
    "--kube-version": (v) => (a.kubeVersion = v),
    "--api-versions": (v) => a.apiVersions.push(...v.split(",").map((x) => x.trim()).filter(Boolean)),
    "-a": (v) => a.apiVersions.push(...v.split(",").map((x) => x.trim()).filter(Boolean)),
    "--render": (v) => {
      if (!["auto", "helm", "builtin"].includes(v)) throw new UsageError(`--render must be auto, helm or builtin, not ${v}`);
      a.render = v;
    },
  };
  return flags[name];
}

type Inputs = ChartArgs & { values: string[]; manifests: string[]; images: string[] };
export type ListedImage = Listed & Partial<Pick<ChartImage, "disabled" | "test">> & { sources: ChartImage["sources"] | Listed["sources"] };

/** Every image of the inputs; chart warnings are written to stderr as they are found. */
export async function gatherListed(
  a: Inputs,
  collect: (x: Pick<Inputs, "values" | "manifests" | "images">) => Listed[],
  env: NodeJS.ProcessEnv,
  _log: (s: string) => void,
  warn: (s: string) => void = (s) => process.stderr.write(`warning: ${s}\n`),
): Promise<ListedImage[]> {
  if (!a.charts.length && !a.values.length && !a.manifests.length && !a.images.length) {
    throw new UsageError("no input: nothing to list", "give --chart PATH (a chart directory or .tgz), or --values / --manifests / --image");
  }
  if (!a.charts.length) return collect(a);
  const listing = await listChartImages(
    {
      charts: a.charts, values: a.values, set: a.set, setString: a.setString, setJson: a.setJson, releaseName: a.releaseName,
      namespace: a.releaseNamespace, kubeVersion: a.kubeVersion, apiVersions: a.apiVersions, render: a.render as "auto", all: a.all,
    },
    env,
  );
  for (const w of [...new Set(listing.warnings)]) warn(w);
  // With --chart, values files are layered under the chart, not scanned for guesses.
  const extra = collect({ values: [], manifests: a.manifests, images: a.images });
  const byRef = new Map<string, ListedImage>(listing.images.map((i) => [i.ref, i]));
  for (const e of extra) {
    const cur = byRef.get(e.ref);
    if (cur) cur.sources = [...cur.sources, ...e.sources] as ListedImage["sources"];
    else byRef.set(e.ref, e);
  }
  return [...byRef.values()].sort((x, y) => x.ref.localeCompare(y.ref));
}

function describe(s: ListedImage["sources"][number]): string {
  if (!("template" in s)) return `${s.file}:${s.path}`;
  return `${s.file} ${s.path}${s.values?.length ? ` (values ${s.values.join(", ")})` : ""}`;
}

export function printListing(listed: ListedImage[], json: boolean, out: (s: string) => void): void {
  if (json) return out(JSON.stringify(listed, null, 2) + "\n");
  const rows = [["IMAGE", "FOUND IN"], ...listed.map((l) => [
    l.ref,
    [l.disabled ? `[disabled: ${l.disabled}]` : "", l.test ? "[helm test]" : "", l.sources.map(describe).join(", ")].filter(Boolean).join(" "),
  ])];
  const width = Math.max(...rows.map((r) => r[0].length));
  out(rows.map((r) => `${r[0].padEnd(width)}  ${r[1]}`).join("\n") + "\n");
}
