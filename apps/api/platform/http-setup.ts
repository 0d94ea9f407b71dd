import { INestApplication, ValidationPipe } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { documentIgnoredRequestFields } from './openapi-extras';
import { RequestValidationError, flattenValidationErrors } from './request-errors';

/** What runs above the HTTP server: validation, shutdown hooks, the OpenAPI document and Swagger UI at /docs. */
export function configureApi(app: INestApplication): void {
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
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi.json', yamlDocumentUrl: 'openapi.yaml', ui: true });
}
