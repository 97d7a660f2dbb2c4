// The built-in renderer: helm's template engine (Go text/template + Sprig + helm's own functions,
// src/images/chart/engine/*.go) compiled to WebAssembly. Loaded on first use by `images` only:
// from the single executable's assets, or from files beside the bundle (dist/).

import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { gunzipSync } from "node:zlib";
import { UsageError } from "../../errors.ts";

export const WASM_ASSET = "chart-engine.wasm.gz";
export const GLUE_ASSET = "chart-engine-glue.js";

export interface RenderRequest {
  files?: { name: string; data: string }[];
  archive?: string;
  values: { name: string; text: string }[];
  set: string[];
  setString: string[];
  setJson: string[];
  releaseName?: string;
  namespace?: string;
  kubeVersion?: string;
  apiVersions: string[];
  all: boolean;
}

export interface ChartInfo {
  path: string;
  name: string;
  version: string;
  appVersion: string;
  origin: string;
  library: boolean;
  annotations?: Record<string, string>;
}

export interface RenderResponse {
  error?: string;
  usage?: boolean;
  manifests: { name: string; content: string }[] | null;
  charts: ChartInfo[] | null;
  disabled: { path: string; why: string }[] | null;
  warnings: string[] | null;
  values: Record<string, unknown> | null;
  numbers: { path: string; rendered: string }[] | null;
}

type Render = (request: string) => string;
let loaded: Promise<Render> | undefined;

function readAsset(name: string): Buffer | undefined {
  try {
    const sea = process.getBuiltinModule("node:sea") as { isSea(): boolean; getAsset(n: string): ArrayBuffer } | undefined;
    if (sea?.isSea()) return Buffer.from(sea.getAsset(name));
  } catch {
    /* not a single executable, or no such asset */
  }
  // DP_CHART_ENGINE_DIR: the only place looked at (tests; a build whose engine lives elsewhere).
  const dirs = process.env.DP_CHART_ENGINE_DIR ? [process.env.DP_CHART_ENGINE_DIR] : ([typeof __dirname === "string" ? __dirname : undefined, path.dirname(process.execPath)].filter(Boolean) as string[]);
  for (const d of dirs) {
    const f = path.join(d, name);
    if (fs.existsSync(f)) return fs.readFileSync(f);
  }
  return undefined;
}

/** Whether this build carries the engine (it is left out when Go was missing at build time). */
export function engineAvailable(): boolean {
  return readAsset(GLUE_ASSET) !== undefined;
}

async function load(): Promise<Render> {
  const glue = readAsset(GLUE_ASSET);
  const wasm = readAsset(WASM_ASSET);
  if (!glue || !wasm) {
    throw new UsageError("the built-in chart renderer is not in this build (Go was missing when it was built)", "install helm and use --render helm (or auto), or rebuild with Go installed (npm run build)");
  }
  const g = globalThis as unknown as { Go: new () => { importObject: WebAssembly.Imports; run(i: WebAssembly.Instance): Promise<void> }; __dpChartRender?: Render };
  if (!g.Go) {
    vm.runInThisContext(glue.toString("utf8"), { filename: GLUE_ASSET });
    // The Go runtime writes only its own fatal errors: to stderr, never into the listing on stdout.
    const gfs = (globalThis as unknown as { fs?: { writeSync?: (fd: number, b: Uint8Array) => number } }).fs;
    if (gfs?.writeSync && !("statSync" in gfs)) gfs.writeSync = (_fd, b) => (process.stderr.write(b), b.length);
  }
  const go = new g.Go();
  const { instance } = await WebAssembly.instantiate(gunzipSync(wasm), go.importObject);
  void go.run(instance);
  if (!g.__dpChartRender) throw new Error("chart engine did not start");
  return g.__dpChartRender;
}

export async function renderBuiltin(req: RenderRequest): Promise<RenderResponse> {
  loaded ??= load();
  const render = await loaded;
  let out: string;
  try {
    out = render(JSON.stringify(req));
  } catch (e) {
    // The Go runtime stopped (out of memory, a stack overflow): the chart's doing, not ours.
    loaded = undefined;
    throw new UsageError(`the built-in renderer failed on this chart: ${(e as Error).message}`, "try --render helm; if helm renders it, please report the chart");
  }
  return JSON.parse(out) as RenderResponse;
}
