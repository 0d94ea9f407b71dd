import { randomUUID } from 'node:crypto';
import { AddressInfo } from 'node:net';
import { Body, Controller, HttpCode, Inject, Module, Param, Post } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Pool } from 'pg';
import { ApiKeyGuard } from '../apps/api/auth/api-key.guard';
import { RequireScope } from '../apps/api/auth/auth.decorators';
import { DowngradeProviderDto, InstallProviderDto, UpgradeProviderDto } from '../apps/api/installations/installation.dto';
import { configureFastify, fastifyAdapter } from '../apps/api/platform/fastify-http';
import { configureApi } from '../apps/api/platform/http-setup';
import { EVENT_STORE, PG_POOL } from '../apps/api/platform/tokens';
import { PostgresEventStore } from '../libs/event-store/postgres/postgres-event-store';
import { AppConfig } from '../libs/config/app-config';
import { createLogger } from '../libs/infrastructure/infrastructure';

/**
 * The command benchmark's baseline: a bare NestJS app with the API's platform setup
 * (`configureFastify`, `configureApi`: helmet, body parsing, request hooks and log line, the global
 * ValidationPipe, Swagger) and its ApiKeyGuard,
 * whose routes answer the same paths and bodies as the real command routes (validated by the same
 * DTOs) with one INSERT of one row into `bench_raw_commands` (es_events' shape) each. It lives only
 * in bench/; the product has no such route.
 */
const revisions = new Map<string, number>();

@Controller('providers')
class BaselineController {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  @Post('install')
  @RequireScope('install')
  @HttpCode(201)
  install(@Body() body: InstallProviderDto) {
    return this.insert(body.provider_name, 'InstallRequested', body);
  }

  @Post('installed/:prefix/:name/upgrade')
  @RequireScope('install')
  @HttpCode(200)
  upgrade(@Param('prefix') prefix: string, @Param('name') name: string, @Body() body: UpgradeProviderDto) {
    return this.insert(`${prefix}/${name}`, 'UpgradeRequested', body);
  }

  @Post('installed/:prefix/:name/downgrade')
  @RequireScope('install')
  @HttpCode(200)
  downgrade(@Param('prefix') prefix: string, @Param('name') name: string, @Body() body: DowngradeProviderDto) {
    return this.insert(`${prefix}/${name}`, 'UpgradeRequested', body);
  }

  private async insert(canonical: string, type: string, body: object) {
    const stream = `bench-baseline-${canonical}`;
    const revision = (revisions.get(stream) ?? -1) + 1;
    revisions.set(stream, revision);
    const now = new Date().toISOString();
    await this.pool.query(
      `INSERT INTO bench_raw_commands (stream_name, stream_revision, event_id, event_type, data, metadata) VALUES ($1, $2, $3, $4, $5, $6)`,
      [stream, revision, randomUUID(), type, JSON.stringify({ ...body, at: now }), JSON.stringify({ schema_version: 1, correlation_id: randomUUID(), causation_id: null, actor: 'bench', occurred_at: now })],
    );
    return { canonical, revision, updated_at: now };
  }
}

export interface BaselineApp {
  baseUrl: string;
  close(): Promise<void>;
}

/** Starts the bare app on its own pool of `poolSize` connections (the API's pool size). */
export async function startBaselineApp(pool: Pool, config: AppConfig): Promise<BaselineApp> {
  @Module({
    controllers: [BaselineController],
    providers: [
      { provide: PG_POOL, useValue: pool },
      // The key guard reads each key from its own stream (revocation without waiting on the read model).
      { provide: EVENT_STORE, useValue: new PostgresEventStore(pool) },
      { provide: APP_GUARD, useClass: ApiKeyGuard },
    ],
  })
  class BaselineModule {}

  await pool.query('CREATE TABLE IF NOT EXISTS bench_raw_commands (LIKE es_events INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES)');
  const app = await NestFactory.create<NestFastifyApplication>(BaselineModule, fastifyAdapter(config), { bodyParser: false, logger: false });
  configureFastify(app, config, createLogger(config, 'bench-baseline'));
  configureApi(app);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}
