/**
 * A browser origin as it is compared (ALLOWED_ORIGINS and the `Origin` header): scheme and host
 * lower case, the scheme's default port left out (`https://ok.example:443` is
 * `https://ok.example`), IDN hosts in punycode, as the WHATWG URL parser serialises an origin.
 * Undefined when it is not an http(s) origin: another scheme, `null`, a path, a query,
 * credentials. A trailing `/` is tolerated.
 */
export function normalizeOrigin(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password || url.search || url.hash || url.pathname !== '/' || raw.includes('?') || raw.includes('#')) return undefined;
  return url.origin;
}
