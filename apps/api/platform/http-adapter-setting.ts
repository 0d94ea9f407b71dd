export const HTTP_ADAPTER_ENV = 'HTTP_ADAPTER';

export type HttpAdapterName = 'express' | 'fastify';

/** Which HTTP server NestJS runs on; read here because it concerns only the HTTP edge. */
export function httpAdapterSetting(env: NodeJS.ProcessEnv = process.env): HttpAdapterName {
  const raw = (env[HTTP_ADAPTER_ENV] ?? '').trim();
  if (raw === '' || raw === 'express') return 'express';
  if (raw === 'fastify') return 'fastify';
  throw new Error(`${HTTP_ADAPTER_ENV}: "${raw}" is not express or fastify`);
}
