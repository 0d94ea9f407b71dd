import { SqlMigration } from '../../../database/schema-migrations';

/** SQLSTATE of `es_require_revision`'s refusal: the append that ran it is refused as a whole. */
export const STREAM_MOVED = 'ES409';

/** SQLSTATE of `es_require_count`'s refusal: a statement of an append changed fewer or more rows than it had to. */
export const ROWS_CHANGED = 'ES412';

/**
 * `es_require_count(actual, expected)`: raises ROWS_CHANGED unless they are equal. An inline append
 * sent in one round trip checks with it that its event went in and that each read-model row it
 * updates was still the version it was computed from (see `InlineProjections`).
 *
 * `es_require_revision(stream, revision)`: raises STREAM_MOVED (DETAIL: the stream's revision) unless
 * the stream is at that revision (-1: no stream). An append whose decision read other streams runs
 * it in its transaction for each of them (`AppendOptions.unchanged`).
 */
export const appendConditionsMigration: SqlMigration = {
  name: 'AppendConditions1764500000000',
  statements: [
    `CREATE OR REPLACE FUNCTION es_require_revision(stream text, expected bigint) RETURNS void LANGUAGE plpgsql AS $$
      DECLARE actual bigint;
      BEGIN
        actual := coalesce((SELECT stream_revision FROM es_events WHERE stream_name = stream ORDER BY stream_revision DESC LIMIT 1), -1);
        IF actual <> expected THEN
          RAISE EXCEPTION 'stream % is at revision %, not %', stream, actual, expected USING ERRCODE = '${STREAM_MOVED}', DETAIL = actual::text;
        END IF;
      END $$`,
    `CREATE OR REPLACE FUNCTION es_require_count(actual bigint, expected bigint) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        IF actual <> expected THEN
          RAISE EXCEPTION '% rows where % were expected', actual, expected USING ERRCODE = '${ROWS_CHANGED}';
        END IF;
      END $$`,
  ],
};

/**
 * A SELECT that raises ROWS_CHANGED unless `actual` equals `expected` (SQL expressions): compared in
 * plain SQL, `es_require_count` (PL/pgSQL, whose call costs its setup on every run) called only to raise.
 */
export function requireCountSql(actual: string, expected: string): string {
  return `SELECT CASE WHEN c.actual = c.expected THEN NULL ELSE es_require_count(c.actual, c.expected) END
    FROM (SELECT ${actual} AS actual, ${expected} AS expected) AS c`;
}
