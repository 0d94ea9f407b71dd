import { ApiException, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

export const FIELD_MANAGER = 'provider-store';

/** Server-side apply: the object as a whole, owned by one field manager, created or merged. */
export const APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

/** The API server's own explanation makes a useful DeployFailed message; the client's does not. */
export class KubernetesCallFailed extends Error {
  constructor(
    readonly action: string,
    readonly statusCode: number | undefined,
    detail: string,
  ) {
    super(`kubernetes ${action} failed${statusCode ? ` (${statusCode})` : ''}: ${detail}`);
    this.name = 'KubernetesCallFailed';
  }
}

export const DEFAULT_KUBERNETES_REQUEST_TIMEOUT_MS = 30_000;

/*
 * One cluster per installer process, so one bound for every call (KUBERNETES_REQUEST_TIMEOUT_MS):
 * a hung API server must fail a deploy, never hold the installer.
 */
let requestTimeoutMs = DEFAULT_KUBERNETES_REQUEST_TIMEOUT_MS;

export function setKubernetesRequestTimeout(ms: number): void {
  requestTimeoutMs = ms;
}

export async function call<T>(action: string, run: () => Promise<T>): Promise<T> {
  try {
    return await withTimeout(run(), requestTimeoutMs);
  } catch (error) {
    if (error instanceof ApiException) throw new KubernetesCallFailed(action, error.code, statusMessageOf(error.body) ?? error.message);
    throw new KubernetesCallFailed(action, undefined, error instanceof Error ? error.message : String(error));
  }
}

/** The message of the Status the API server answered with (the client hands its body over as text). */
function statusMessageOf(body: unknown): string | undefined {
  const parsed: unknown = typeof body === 'string' ? safeParse(body) : body;
  if (typeof parsed === 'object' && parsed !== null && 'message' in parsed && typeof parsed.message === 'string') return parsed.message;
  return typeof body === 'string' && body !== '' ? body : undefined;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function ignoreNotFound<T>(run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof KubernetesCallFailed && error.statusCode === 404) return undefined;
    throw error;
  }
}

/** Settles with the call, or rejects once `ms` have passed without an answer. */
function withTimeout<T>(pending: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([pending, timeout]).finally(() => clearTimeout(timer));
}
