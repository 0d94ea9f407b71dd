import { once } from 'node:events';
import { Client } from 'pg';

/**
 * `COPY … FROM STDIN` on a node-postgres client without pg-copy-streams: a submittable query that
 * streams the chunks `rows` yields as CopyData messages, waiting for the socket to drain so memory
 * stays flat however many rows are sent. Used by the rebuild's bulk writes and the benchmarks' seeding.
 */
interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: NodeJS.WritableStream & { writableLength: number };
}

class CopyIn {
  private error?: Error;
  private resolve!: () => void;
  private reject!: (e: Error) => void;
  readonly done = new Promise<void>((res, rej) => {
    this.resolve = res;
    this.reject = rej;
  });

  constructor(
    readonly text: string,
    private readonly chunks: Iterable<string>,
  ) {}

  submit(connection: PgConnection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: PgConnection): void {
    void (async () => {
      try {
        for (const chunk of this.chunks) {
          connection.sendCopyFromChunk(Buffer.from(chunk, 'utf8'));
          if (connection.stream.writableLength > 1 << 20) await once(connection.stream, 'drain');
        }
        connection.endCopyFrom();
      } catch (e) {
        connection.sendCopyFail(String(e));
      }
    })();
  }

  handleError(error: Error): void {
    this.error = error;
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}

  handleReadyForQuery(): void {
    if (this.error) this.reject(this.error);
    else this.resolve();
  }
}

/** Runs `COPY <table> (<columns>) FROM STDIN` (text format) with the given chunks of lines. */
export async function copyIn(client: Client, table: string, columns: string[], chunks: Iterable<string>): Promise<void> {
  const copy = new CopyIn(`COPY ${table} (${columns.join(', ')}) FROM STDIN`, chunks);
  // The submittable's own promise settles the call; client.query returns it as is.
  (client as unknown as { query(q: unknown): unknown }).query(copy);
  await copy.done;
}

const COPY_CHUNK_ROWS = 1000;

/**
 * The `columns` (of PostgreSQL `types`) of rows given as JSON objects, as COPY text lines in chunks of
 * 1000 rows. Encoded at once, so that later changes to the rows cannot reach a write already planned.
 */
export function copyLines(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[], types: readonly string[]): string[] {
  const chunks: string[] = [];
  for (let at = 0; at < rows.length; at += COPY_CHUNK_ROWS) {
    let chunk = '';
    for (const row of rows.slice(at, at + COPY_CHUNK_ROWS)) chunk += columns.map((c, i) => copyValue(row[c], types[i])).join('\t') + '\n';
    chunks.push(chunk);
  }
  return chunks;
}

function copyValue(value: unknown, type: string): string {
  if (value === null || value === undefined) return '\\N';
  if (type === 'jsonb') return copyField(JSON.stringify(value));
  if (value instanceof Date) return copyField(value.toISOString());
  // Only scalar columns take this path (row-sql.ts COPYABLE_TYPES): a row's value there is a JSON scalar.
  const scalar = value as string | number | boolean;
  return copyField(String(scalar));
}

/** One field in COPY text format. */
export function copyField(value: string | number | null): string {
  if (value === null) return '\\N';
  return String(value).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}
