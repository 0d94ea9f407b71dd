import { SqlMigration } from '../../../database/schema-migrations';

/**
 * The log. Applied once per database (recorded in `schema_migrations`). The consumers' checkpoints,
 * which this migration also made in databases it ran on, are declared in `checkpoint-store.ts`.
 */
export const eventStoreMigration: SqlMigration = {
  name: 'EventStore1763900000000',
  statements: [
    `CREATE TABLE es_events (
        global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        stream_name text NOT NULL,
        stream_revision bigint NOT NULL,
        event_id uuid NOT NULL,
        event_type text NOT NULL,
        data jsonb NOT NULL,
        metadata jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT es_events_event_id_key UNIQUE (event_id),
        CONSTRAINT es_events_stream_revision_key UNIQUE (stream_name, stream_revision)
      )`,
    // The global log is read in (transaction, sequence) order; see PostgresEventStore.readAll.
    `CREATE INDEX es_events_log_order ON es_events (transaction_id, global_position)`,
    `CREATE FUNCTION es_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'es_events is append-only: % is not allowed', TG_OP;
      END $$`,
    `CREATE TRIGGER es_events_append_only BEFORE UPDATE OR DELETE ON es_events
      FOR EACH ROW EXECUTE FUNCTION es_events_append_only()`,
  ],
};
