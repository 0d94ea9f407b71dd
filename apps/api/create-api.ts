import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { installationSecretsOf } from '../../libs/secrets/installation-secrets';
import { AppModule } from './app.module';
import { configureFastify, fastifyAdapter } from './platform/fastify-http';
import { configureApi } from './platform/http-setup';
import { PinoNestLogger } from './platform/pino-nest-logger';

/** Builds the REST API (on Fastify) on the given infrastructure (listening is the caller's choice). */
export async function createApi(infrastructure: Infrastructure): Promise<NestFastifyApplication> {
  // The secrets' master key first: without one in production the API refuses to start, saying why.
  await installationSecretsOf(infrastructure);
  const module = AppModule.forRoot(infrastructure);
  const logger = new PinoNestLogger(infrastructure.logger);
  const app = await NestFactory.create<NestFastifyApplication>(module, fastifyAdapter(infrastructure.config), { bodyParser: false, logger });
  configureFastify(app, infrastructure.config, infrastructure.logger);
  configureApi(app);
  return app;
}
