import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { installationSecretsOf } from '../../libs/secrets/installation-secrets';
import { AppModule } from './app.module';
import { configureFastify, fastifyAdapter } from './platform/fastify-http';
import { configureApi, configureExpress } from './platform/http-setup';
import { HttpAdapterName, httpAdapterSetting } from './platform/http-adapter-setting';
import { PinoNestLogger } from './platform/pino-nest-logger';

/** Builds the REST API on the given infrastructure (listening is the caller's choice). */
export async function createApi(infrastructure: Infrastructure, adapter: HttpAdapterName = httpAdapterSetting()): Promise<INestApplication> {
  // The secrets' master key first: without one in production the API refuses to start, saying why.
  await installationSecretsOf(infrastructure);
  const module = AppModule.forRoot(infrastructure);
  const logger = new PinoNestLogger(infrastructure.logger);
  if (adapter === 'fastify') {
    const app = await NestFactory.create<NestFastifyApplication>(module, fastifyAdapter(infrastructure.config), { bodyParser: false, logger });
    await configureFastify(app, infrastructure.config);
    // Swagger UI's assets need @fastify/static; the JSON and YAML documents do not.
    configureApi(app, { swaggerUi: false });
    return app;
  }
  const app = await NestFactory.create(module, { bodyParser: false, logger });
  configureExpress(app, infrastructure.config);
  configureApi(app, { swaggerUi: true });
  return app;
}
