/** The API route that serves stored artifacts (`GET /artifacts/{sha256}`). */
export const ARTIFACTS_ROUTE = 'artifacts';

/** Where a stored wheel is downloaded: what a version published by upload carries as `wheel_url`. */
export function artifactUrl(apiBaseUrl: string, sha256: string): string {
  return `${apiBaseUrl.replace(/\/+$/, '')}/${ARTIFACTS_ROUTE}/${sha256}`;
}
