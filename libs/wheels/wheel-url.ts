/**
 * The canonical form a wheel URL is stored in: https, lower-case host, default port dropped,
 * dot-segments resolved, no fragment. Returns undefined when the URL is not an https `.whl` URL.
 */
export function canonicalWheelUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || !url.hostname || url.username || url.password) return undefined;
  url.hash = '';
  // WHATWG URL parsing already lower-cases the scheme and host, drops :443 and resolves dot-segments.
  if (!url.pathname.toLowerCase().endsWith('.whl')) return undefined;
  return url.toString();
}
