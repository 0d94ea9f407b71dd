import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { parseWheelFilename } from '../../libs/wheels/wheel-inspection';
import { CliState, EXIT_FAILURE, UsageError, err, out } from './io';

interface PublishOptions {
  name: string;
  version?: string;
  schemas?: string;
  changelog?: string;
  url: string;
  key?: string;
  wait: boolean;
  timeout: string;
}

const POLL_MS = 500;

/** The fields of a ProviderVersion or an error body the command reads. */
interface ApiAnswer {
  code?: string;
  message?: string;
  status?: string;
  error_message?: string | null;
}

/** `publish <wheel>`: uploads a wheel as the platform's SDK does and waits for it to be published. */
export function registerPublish(program: Command, state: CliState): void {
  program
    .command('publish')
    .description('Upload a wheel (POST /providers/publish) and wait until its version is published or failed')
    .argument('<wheel>', 'path of the .whl file')
    .requiredOption('--name <prefix/name>', 'the provider, e.g. acme/pkg')
    .option('--version <version>', "the version (default: the wheel filename's)")
    .option('--schemas <file>', 'JSON file: resource type → JSON schema')
    .option('--changelog <text>', 'changelog of this version')
    .option('--url <url>', 'API base URL (PROVIDER_STORE_URL)', process.env.PROVIDER_STORE_URL ?? 'http://127.0.0.1:3000')
    .option('--key <key>', 'API key with the publish scope (PROVIDER_STORE_API_KEY)')
    .option('--no-wait', 'return once the upload is stored (status building)')
    .option('--timeout <seconds>', 'how long to wait for validation', '600')
    .action(async (wheel: string, options: PublishOptions) => {
      state.exitCode = await publish(wheel, options);
    });
}

async function publish(wheelPath: string, options: PublishOptions): Promise<number> {
  const key = options.key ?? process.env.PROVIDER_STORE_API_KEY;
  if (!key) throw new UsageError('an API key is needed: --key or PROVIDER_STORE_API_KEY');
  const filename = path.basename(wheelPath);
  const version = options.version ?? parseWheelFilename(filename)?.version.replace(/_/g, '-');
  if (!version) throw new UsageError(`cannot read a version from "${filename}"; pass --version`);
  const size = (await stat(wheelPath).catch(() => undefined))?.size;
  if (size === undefined) throw new UsageError(`no such file: ${wheelPath}`);
  const schemas = options.schemas ? (JSON.parse(await readFile(options.schemas, 'utf8')) as unknown) : undefined;
  const metadata = JSON.stringify({ name: options.name, version, schemas, changelog: options.changelog });
  const base = options.url.replace(/\/+$/, '');

  const bar = progressBar(`upload ${filename}`, size);
  const multipart = multipartBody(metadata, wheelPath, filename, (sent) => bar.update(sent));
  const response = await fetch(`${base}/providers/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': multipart.contentType },
    body: Readable.toWeb(multipart.body) as ReadableStream<Uint8Array>,
    duplex: 'half',
  });
  bar.stop();
  const body = (await response.json().catch(() => ({}))) as ApiAnswer;
  if (response.status !== 201) {
    err(`error: upload refused (${response.status} ${body.code ?? ''}): ${body.message ?? ''}\n`);
    return EXIT_FAILURE;
  }
  if (!options.wait) {
    await out(`${JSON.stringify(body)}\n`);
    return 0;
  }
  const final = await waitForBuild(`${base}/providers/${options.name}/versions/${encodeURIComponent(version)}`, key, Number(options.timeout) * 1000);
  await out(`${JSON.stringify(final)}\n`);
  if (final.status === 'published') return 0;
  err(`error: ${options.name} ${version} is ${final.status ?? 'unknown'}: ${final.error_message ?? 'validation did not finish in time'}\n`);
  return EXIT_FAILURE;
}

/** The SDK's request: field `metadata`, then file `wheel`, streamed from disk as it is sent. */
function multipartBody(metadata: string, file: string, filename: string, onProgress: (sent: number) => void): { contentType: string; body: Readable } {
  const boundary = `----provider-store-${randomBytes(12).toString('hex')}`;
  const quoted = filename.replace(/["\\\r\n]/g, '_');
  async function* parts(): AsyncGenerator<Buffer> {
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\nContent-Type: application/json\r\n\r\n${metadata}\r\n`);
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="wheel"; filename="${quoted}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    let sent = 0;
    for await (const chunk of createReadStream(file)) {
      sent += (chunk as Buffer).length;
      onProgress(sent);
      yield chunk as Buffer;
    }
    yield Buffer.from(`\r\n--${boundary}--\r\n`);
  }
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: Readable.from(parts()) };
}

async function waitForBuild(url: string, key: string, timeoutMs: number): Promise<ApiAnswer> {
  const started = Date.now();
  const bar = progressBar('validating', Math.max(1, Math.round(timeoutMs / 1000)));
  try {
    for (;;) {
      const response = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
      const body = (await response.json().catch(() => ({}))) as ApiAnswer;
      if (response.status === 200 && body.status !== 'building') return body;
      if (Date.now() - started > timeoutMs) return body;
      bar.update(Math.round((Date.now() - started) / 1000));
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    bar.stop();
  }
}

/** A bar on a terminal; elsewhere nothing (scripts read the JSON on stdout). */
function progressBar(label: string, total: number): { update(value: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({ format: `${label} [{bar}] {percentage}% | {value}/{total}`, stream: process.stderr, hideCursor: true, fps: 5 });
  bar.start(total, 0);
  return { update: (value) => bar.update(Math.min(value, total)), stop: () => bar.stop() };
}
