// PACKAGE_FORMAT=file: the name the one file gets, pure. PACKAGE_FILENAME, else the
// Content-Disposition filename, else the URL's last path segment; a server's name is only a
// suggestion: reduced to its last component and refused (next source) when it is unsafe.

/** The program's own state lives at the root under this prefix. */
const STATE_PREFIX = ".download-package";

/** Why `name` cannot be the file's name, or undefined when it can. */
export function unsafeFileName(name: string): string | undefined {
  if (name === "" || name === "." || name === "..") return "is empty, . or ..";
  if (/[/\\]/.test(name)) return "holds a path separator";
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return "holds a control character";
  if (name.startsWith(STATE_PREFIX)) return `starts with ${STATE_PREFIX} (the program's own state)`;
  if (Buffer.byteLength(name) > 255) return "is longer than 255 bytes";
  return undefined;
}

/** Last component of a server-given name ("a/b\\c.bin" → "c.bin"), or undefined when unsafe. */
function sanitized(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const base = name.split(/[/\\]/).pop()!.trim();
  return unsafeFileName(base) ? undefined : base;
}

/** The filename of a Content-Disposition header: filename* (RFC 5987, UTF-8) first, then filename. */
export function contentDispositionName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const star = /(?:^|;)\s*filename\*\s*=\s*([^;]*)/i.exec(header);
  if (star) {
    const m = /^([\w!#$&+.^`|~-]+)'[^']*'(.*)$/.exec(star[1].trim());
    if (m && /^utf-8$/i.test(m[1])) {
      try {
        return decodeURIComponent(m[2]);
      } catch {
        /* malformed: try filename= */
      }
    }
  }
  const plain = /(?:^|;)\s*filename\s*=\s*("((?:[^"\\]|\\.)*)"|[^;\s]*)/i.exec(header);
  if (!plain) return undefined;
  return plain[2] !== undefined ? plain[2].replace(/\\(.)/g, "$1") : plain[1];
}

/** The URL's last path segment, percent-decoded when that is valid UTF-8 (else as written). */
export function urlFileName(url: string): string | undefined {
  let last: string;
  try {
    last = new URL(url).pathname.split("/").pop() ?? "";
  } catch {
    return undefined;
  }
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** The file's name from its three sources in order, or undefined when none gives a safe one. */
export function chooseFileName(configured: string, contentDisposition: string | undefined, url: string): string | undefined {
  if (configured) return configured; // checked when the configuration was read
  return sanitized(contentDispositionName(contentDisposition)) ?? sanitized(urlFileName(url));
}
