// The TLS settings every transport and the registry client share, read once from the files
// the options name (PACKAGE_CA_FILE, PACKAGE_CERT_FILE/PACKAGE_KEY_FILE).

import fs from "node:fs";
import tls from "node:tls";
import { UsageError } from "../errors.ts";
import type { TlsSettings } from "./transports/types.ts";

/** "" = not given. */
export interface TlsFiles {
  insecure: boolean;
  caFile: string;
  certFile: string;
  keyFile: string;
}

function readPem(file: string, what: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, "mount the file at that path, or fix the path");
  }
}

export function tlsSettings(c: TlsFiles, env: NodeJS.ProcessEnv): TlsSettings {
  const s: TlsSettings = { insecure: c.insecure };
  if (c.caFile) {
    const system = (tls as { getCACertificates?: (t: string) => string[] }).getCACertificates?.("default") ?? [...tls.rootCertificates];
    s.ca = [...system, readPem(c.caFile, "CA file")];
    s.caFile = c.caFile;
  } else if (env.NODE_EXTRA_CA_CERTS) {
    s.caFile = env.NODE_EXTRA_CA_CERTS; // Node reads it itself; curl and wget need the path
  }
  if (c.certFile) {
    s.cert = readPem(c.certFile, "client certificate");
    s.key = readPem(c.keyFile, "client key");
    s.certFile = c.certFile;
    s.keyFile = c.keyFile;
  }
  return s;
}
