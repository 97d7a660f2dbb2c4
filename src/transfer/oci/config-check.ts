// The oci:// rules of the option table, called by src/cli/config.ts's validate(). Pure.

import { UsageError } from "../../errors.ts";
import { parsePlatform } from "./manifest.ts";
import { isOciUrl, parseReference } from "./reference.ts";

interface OciOptions {
  urls: string[];
  checksumUrl: string;
  tokenFile: string;
  basicAuthFile: string;
  registryConfig: string;
  platform: string;
}

/** true when PACKAGE_URL holds oci:// references (all of them, or it is an error). */
export function checkOciConfig(c: OciOptions): boolean {
  const oci = c.urls.filter(isOciUrl);
  if (oci.length === 0) return false;
  if (oci.length !== c.urls.length) throw new UsageError("PACKAGE_URL mixes oci:// references and http(s) URLs", "list registry mirrors (oci://) or file servers (http/https), not both");
  for (const u of oci) parseReference(u);
  if (c.checksumUrl) throw new UsageError("PACKAGE_CHECKSUM_URL does not apply to oci:// packages", "unset it: the manifest's layer digest is always verified (pin the reference with @sha256:… to fix the content)");
  if (c.registryConfig && (c.tokenFile || c.basicAuthFile)) throw new UsageError("PACKAGE_REGISTRY_CONFIG and PACKAGE_TOKEN_FILE/PACKAGE_BASIC_AUTH_FILE are both set", "use one kind of registry credentials");
  parsePlatform(c.platform);
  return true;
}
