import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { installationSecretsOf } from '../../libs/secrets/installation-secrets';
import { AppModule } from './app.module';
import { configureHttp } from './platform/http-setup';
import { httpMetrics } from './platform/http-metrics';
import { PinoNestLogger } from './platform/pino-nest-logger';

/** Builds the REST API on the given infrastructure (listening is the caller's choice). */
export async function createApi(infrastructure: Infrastructure): Promise<INestApplication> {
  // The secrets' master key first: without one in production the API refuses to start, saying why.
  await installationSecretsOf(infrastructure);
  const app = await NestFactory.create(AppModule.forRoot(infrastructure), {
    bodyParser: false,
    logger: new PinoNestLogger(infrastructure.logger),
  });
  app.use(httpMetrics());
  configureHttp(app, infrastructure.config);
  return app;
}
