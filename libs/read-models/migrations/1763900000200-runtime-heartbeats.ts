import { MigrationInterface, QueryRunner } from 'typeorm';

/** Heartbeats are telemetry, not decisions: one row per installation absorbs them (DESIGN.md). */
export class RuntimeHeartbeats1763900000200 implements MigrationInterface {
  name = 'RuntimeHeartbeats1763900000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE runtime_heartbeats (
        installation_id uuid PRIMARY KEY,
        stream_name text NOT NULL,
        generation integer NOT NULL,
        status text NOT NULL,
        message text,
        last_seen_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX runtime_heartbeats_last_seen ON runtime_heartbeats (last_seen_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE runtime_heartbeats');
  }
}
