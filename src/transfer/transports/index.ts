// The transports, by name: PACKAGE_TRANSPORTS picks and orders them.

import { UsageError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { curlTransport } from "./curl.ts";
import { nodeHttpTransport } from "./node-http.ts";
import type { Transport } from "./types.ts";
import { undiciTransport } from "./undici.ts";
import { wgetTransport } from "./wget.ts";

const REGISTRY: Record<string, (env: NodeJS.ProcessEnv) => Transport> = {
  undici: () => undiciTransport(),
  node: () => nodeHttpTransport(),
  curl: (env) => curlTransport(env),
  wget: (env) => wgetTransport(env),
};

export const TRANSPORT_NAMES = Object.keys(REGISTRY);

/** The transports named, in order, that can run here; says which are missing. */
export function makeTransports(names: string[], env: NodeJS.ProcessEnv, log: Logger): Transport[] {
  const out: Transport[] = [];
  const missing: string[] = [];
  for (const n of names) {
    const make = REGISTRY[n];
    if (!make) throw new UsageError(`unknown transport ${JSON.stringify(n)} in PACKAGE_TRANSPORTS`, `use some of: ${TRANSPORT_NAMES.join(", ")}`);
    const t = make(env);
    if (t.available()) out.push(t);
    else missing.push(n);
  }
  if (missing.length) log.info(`transports: ${out.map((t) => t.name).join(", ") || "none"} (${missing.join(", ")} not on PATH)`);
  if (out.length === 0) throw new UsageError("none of the transports in PACKAGE_TRANSPORTS is available here", "include undici or node in PACKAGE_TRANSPORTS");
  return out;
}
