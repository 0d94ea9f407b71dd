/**
 * Why a wheel could not be downloaded, as a category and a fixed sentence. The socket's or TLS
 * library's own text is never passed on: echoed to the publisher it would tell a prober which
 * hosts and ports answer and how (a port-scanning oracle), and could carry internal names.
 */
export type WheelFetchCategory =
  | 'unsupported_url'
  | 'blocked_address'
  | 'dns'
  | 'refused'
  | 'connection'
  | 'tls'
  | 'timeout'
  | 'too_large'
  | 'http_status'
  | 'redirects';

export interface WheelFetchFailure {
  ok: false;
  category: WheelFetchCategory;
  /** `<category>: <fixed sentence>`, safe to show to the caller. */
  reason: string;
}

const SENTENCES: Record<WheelFetchCategory, string> = {
  unsupported_url: 'only https URLs are fetched',
  blocked_address: 'the host is a private, loopback, link-local or otherwise reserved address',
  dns: 'the host name could not be resolved',
  refused: 'the connection was refused',
  connection: 'the connection failed',
  tls: 'the TLS handshake failed (certificate or protocol)',
  timeout: 'the download did not finish in time',
  too_large: 'the wheel is larger than the server accepts',
  http_status: 'the server did not answer 200',
  redirects: 'too many or invalid redirects',
};

export function wheelFetchFailure(category: WheelFetchCategory, status?: number): WheelFetchFailure {
  const sentence = category === 'http_status' && status !== undefined ? `the server answered HTTP ${status}` : SENTENCES[category];
  return { ok: false, category, reason: `${category}: ${sentence}` };
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'ENODATA', 'ESERVFAIL', 'ENOTIMP', 'EREFUSED', 'EBADNAME']);
const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|EPROTO$)/;

/** Sorts a request error into a category by its code alone. */
export function categoryOfError(error: unknown): WheelFetchCategory {
  const raw = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' ? raw : '';
  if (code === 'EBLOCKED') return 'blocked_address';
  if (DNS_CODES.has(code)) return 'dns';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return 'timeout';
  if (TLS_CODE.test(code)) return 'tls';
  return 'connection';
}
