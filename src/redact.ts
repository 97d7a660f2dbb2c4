// URLs are logged, credentials never: user-info and every query value are replaced by
// REDACTED, since signed URLs (S3, GCS, Azure SAS) carry their secret in the query.

export function redactUrl(input: string | URL): string {
  let u: URL;
  try {
    u = new URL(String(input));
  } catch {
    return "<invalid URL>";
  }
  if (u.username) u.username = "REDACTED";
  if (u.password) u.password = "REDACTED";
  if (u.search) {
    const keys = [...u.searchParams.keys()];
    u.search = keys.map((k) => `${encodeURIComponent(k)}=REDACTED`).join("&");
  }
  return u.toString();
}

/** Remove anything that looks like a URL's user-info from free text (error messages from curl, undici...). */
export function redactText(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]*(?::[^/\s@]*)?@/gi, "$1REDACTED@")
    .replace(/([?&][^=&\s#]+=)[^&\s#"']+/g, "$1REDACTED");
}
