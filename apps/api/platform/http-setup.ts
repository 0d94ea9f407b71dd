import { INestApplication, ValidationPipe } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import express, { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { AppConfig } from '../../../libs/config/app-config';
import { continueExpressTrace, startExpressTrace } from '../../../libs/observability/http-tracing';
import { requestIdOf } from './request-context';
import { errorBody } from './error-body';
import { documentIgnoredRequestFields } from './openapi-extras';
import { RequestValidationError, flattenValidationErrors, jsonTypeOf } from './request-errors';
import { httpMetrics } from './http-metrics';
import { pathOf } from './http-types';
import { unstorableTextRefusal } from './storable-text';
import { trustProxySetting } from './trust-proxy';

/**
 * The platform's SDK reads `application/json` literally and treats a charset parameter as text, so
 * JSON responses carry the bare media type (Express would append `; charset=utf-8`).
 */
function bareJsonContentType(_req: Request, res: Response, next: NextFunction): void {
  const setHeader = res.setHeader.bind(res);
  res.setHeader = (name: string, value: number | string | readonly string[]) => {
    if (name.toLowerCase() === 'content-type' && typeof value === 'string' && value.startsWith('application/json')) {
      return setHeader(name, 'application/json');
    }
    return setHeader(name, value);
  };
  next();
}

/** Body-parser failures: malformed JSON is a 400, an oversized body a 413, both with the error body. */
function bodyErrors(error: unknown, _req: Request, res: Response, next: NextFunction): void {
  const type = (error as { type?: string })?.type;
  if (type === 'entity.too.large') {
    res.status(413).json(errorBody('payload_too_large', 'The request body is larger than the server accepts.'));
    return;
  }
  if (type === 'entity.parse.failed') {
    res.status(400).json(errorBody('malformed_json', 'The request body is not valid JSON.'));
    return;
  }
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    res.status(415).json(errorBody('unsupported_media_type', 'The request body encoding is not supported.'));
    return;
  }
  next(error);
}

/** Refuses, before anything runs, a request nesting too deep or carrying text PostgreSQL cannot store. */
function rejectUnstorableText(request: Request, response: Response, next: NextFunction): void {
  const refusal = unstorableTextRefusal(pathOf(request), request.query, request.body);
  if (refusal) response.status(refusal.status).json(refusal.body);
  else next();
}

/** The Express side of the HTTP edge: security headers, body parsing, request id, span, metrics. */
export function configureExpress(app: INestApplication, config: AppConfig): void {
  const server = app.getHttpAdapter().getInstance() as express.Express;
  server.disable('x-powered-by');
  server.set('etag', false);
  server.set('trust proxy', trustProxySetting());
  app.use(httpMetrics());
  app.use((request: Request, response: Response, next: NextFunction) => {
    response.setHeader('X-Request-Id', requestIdOf(request));
    next();
  });
  app.use(startExpressTrace);
  app.use(helmet());
  app.use(bareJsonContentType);
  app.use(express.json({ limit: config.bodyLimitBytes, strict: true, type: ['application/json', 'application/*+json'] }));
  app.use(bodyErrors);
  app.use(continueExpressTrace);
  // A command with no body (an upgrade to latest, say) is an empty object, not a missing one.
  app.use((req: Request, _res: Response, next: NextFunction) => {
    if (req.body === undefined) req.body = {};
    next();
  });
  app.use(rejectUnstorableText);
}

/** What either adapter shares: validation, shutdown hooks, the OpenAPI document. */
export function configureApi(app: INestApplication, options: { swaggerUi: boolean }): void {
  app.useGlobalPipes(
    new ValidationPipe({
      // Unknown fields are dropped, not refused: the platform's models ignore them, and an SDK that
      // adds a field must keep working against this server.
      whitelist: true,
      forbidNonWhitelisted: false,
      transform: true,
      validateCustomDecorators: false,
      exceptionFactory: (errors) => new RequestValidationError(flattenValidationErrors(errors)),
    }),
  );
  app.enableShutdownHooks();

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('provider-store')
      .setDescription(
        'Control plane of the provider store. Errors always carry `{ code, message, details }`. ' +
          'Commands return `ETag: "<stream revision>"` and `X-Position: <commit>:<prepare>` (the global log position ' +
          'of the last appended event); queries accept `min_position`/`X-Min-Position` in that form and wait up to 5 s for the read model.',
      )
      .setVersion('1.0.0')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API key created with `npm run cli -- keys create`' })
      .build(),
  );
  documentIgnoredRequestFields(document);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi.json', yamlDocumentUrl: 'openapi.yaml', ui: options.swaggerUi });
}

export { jsonTypeOf };
