import { MigrationInterface, QueryRunner } from 'typeorm';

export class ReadModels1763900000100 implements MigrationInterface {
  name = 'ReadModels1763900000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE installed_providers (
        tenant text NOT NULL,
        prefix text NOT NULL,
        name text NOT NULL,
        installation_id uuid NOT NULL,
        installed_version text NOT NULL,
        current_version text,
        upgrade_policy text NOT NULL,
        resource_tier text NOT NULL,
        config jsonb NOT NULL,
        lifecycle_state text NOT NULL,
        health text NOT NULL,
        health_message text,
        generation integer NOT NULL,
        last_deploy_message text,
        revision bigint NOT NULL,
        installed_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (tenant, prefix, name)
      )`);
    await q.query(`CREATE UNIQUE INDEX installed_providers_installation_id ON installed_providers (installation_id)`);
    await q.query(`CREATE INDEX installed_providers_provider ON installed_providers (prefix, name)`);
    await q.query(`
      CREATE TABLE provider_versions (
        prefix text NOT NULL,
        name text NOT NULL,
        version text NOT NULL,
        publisher_org text NOT NULL,
        runtime_version text NOT NULL,
        wheel_url text,
        wheel_sha256 text,
        package_name text,
        entrypoint jsonb,
        schemas jsonb,
        changelog text,
        status text NOT NULL,
        published_at timestamptz,
        yanked_reason text,
        revision bigint NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (prefix, name, version)
      )`);
    await q.query(`
      CREATE TABLE catalog_providers (
        prefix text NOT NULL,
        name text NOT NULL,
        owner_org text NOT NULL,
        display_name text,
        description text,
        icon_url text,
        readme text,
        tags jsonb NOT NULL,
        versions jsonb NOT NULL,
        latest_version text,
        install_count integer NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (prefix, name)
      )`);
    await q.query(`CREATE INDEX catalog_providers_tags ON catalog_providers USING gin (tags)`);
    await q.query(`
      CREATE TABLE api_keys (
        key_id text PRIMARY KEY,
        org text NOT NULL,
        scopes jsonb NOT NULL,
        platform_admin boolean NOT NULL,
        secret_hash text NOT NULL,
        label text,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX api_keys_org ON api_keys (org)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE api_keys');
    await q.query('DROP TABLE catalog_providers');
    await q.query('DROP TABLE provider_versions');
    await q.query('DROP TABLE installed_providers');
  }
}
