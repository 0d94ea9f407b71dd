import { SqlMigration } from '../../../database/schema-migrations';

/** SQLSTATE of `es_require_revision`'s refusal: the append that ran it is refused as a whole. */
export const STREAM_MOVED = 'ES409';

/**
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
  ],
};
