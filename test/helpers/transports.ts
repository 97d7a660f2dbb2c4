// Every transport the program can use, as the environment that forces it, for tests that
// must hold on each: wget runs twice, as GNU wget and as busybox wget (Alpine's), the latter
// through a temporary PATH directory whose `wget` is a symlink to /bin/busybox.

import fs from "node:fs";
import path from "node:path";
import { tmpdir } from "./run.ts";

export interface TransportCase {
  /** Test label: undici, node, curl, wget-gnu, wget-busybox. */
  label: string;
  /** The name the program logs (transports=...). */
  name: string;
  env: Record<string, string>;
  /** The variant the program logs (via=...), when it has several. */
  via?: string;
  /** Can ask for a byte range (wget never does: it starts over). */
  resumes: boolean;
}

const BUSYBOX = "/bin/busybox";

let busyboxDir: string | undefined;
export function busyboxWgetPath(): string | undefined {
  if (!fs.existsSync(BUSYBOX)) return undefined;
  if (!busyboxDir) {
    busyboxDir = tmpdir("dp-busybox-");
    fs.symlinkSync(BUSYBOX, path.join(busyboxDir, "wget"));
    const dir = busyboxDir;
    process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return `${busyboxDir}${path.delimiter}${process.env.PATH ?? ""}`;
}

export function transportCases(): TransportCase[] {
  const cases: TransportCase[] = [
    { label: "undici", name: "undici", env: { PACKAGE_TRANSPORTS: "undici" }, resumes: true },
    { label: "node", name: "node", env: { PACKAGE_TRANSPORTS: "node" }, resumes: true },
    { label: "curl", name: "curl", env: { PACKAGE_TRANSPORTS: "curl" }, resumes: true },
    { label: "wget-gnu", name: "wget", via: "GNU wget", env: { PACKAGE_TRANSPORTS: "wget" }, resumes: false },
  ];
  const bb = busyboxWgetPath();
  if (bb) cases.push({ label: "wget-busybox", name: "wget", via: "busybox wget", env: { PACKAGE_TRANSPORTS: "wget", PATH: bb }, resumes: false });
  else console.log("# skipped: busybox wget cases (no /bin/busybox; apt-get install busybox-static)");
  return cases;
}

const made: string[] = [];
/** A temporary directory removed when the test process exits (destinations hold megabytes). */
export function scratchDir(prefix?: string): string {
  return removeOnExit(tmpdir(prefix));
}

/** Remove this directory (e.g. a fixture tree) when the test process exits. */
export function removeOnExit(dir: string): string {
  if (made.push(dir) === 1) process.once("exit", () => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  return dir;
}
