import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { TerminusModule } from '@nestjs/terminus';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { HistoryController } from './audit/history.controller';
import { ApiKeyGuard } from './auth/api-key.guard';
import { CatalogController } from './catalog/catalog.controller';
import { CatalogService } from './catalog/catalog.service';
import { InstallationsController } from './installations/installations.controller';
import { InstallationsService } from './installations/installations.service';
import { InstalledProvidersQueries } from '../../projections/installed-providers.queries';
import { OperationsController } from './operations/operations.controller';
import { WorkerStatus } from './operations/worker-status';
import { ErrorFilter } from './platform/error.filter';
import { ReadModelWaiter } from './platform/read-model-waiter';
import { rateLimitOptions } from './platform/rate-limit';
import { APP_CONFIG, EVENT_STORE, INFRASTRUCTURE, LOGGER, PG_POOL } from './platform/tokens';
import { ProviderVersionsController } from './provider-versions/provider-versions.controller';
import { GetVersionHandler, ListVersionsHandler } from '../../projections/provider-versions.queries';
import { PublishVersionHandler } from '../../libs/providers/publish-version.handler';
import { YankVersionHandler } from '../../libs/providers/yank-version.handler';
import { RuntimeController } from './runtime/runtime.controller';
import { RuntimeService } from './runtime/runtime.service';

const COMMAND_HANDLERS = [PublishVersionHandler, YankVersionHandler];
const QUERY_HANDLERS = [ListVersionsHandler, GetVersionHandler];

@Module({})
export class AppModule {
  static forRoot(infrastructure: Infrastructure): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CqrsModule.forRoot(),
        TerminusModule.forRoot({ errorLogStyle: 'json' }),
        ThrottlerModule.forRoot(rateLimitOptions(infrastructure)),
      ],
      // Installations come first: `/providers/installed/{p}/{n}` must win over `/providers/{p}/{n}/…`.
      controllers: [InstallationsController, HistoryController, ProviderVersionsController, CatalogController, RuntimeController, OperationsController],
      providers: [
        { provide: INFRASTRUCTURE, useValue: infrastructure },
        { provide: APP_CONFIG, useValue: infrastructure.config },
        { provide: PG_POOL, useValue: infrastructure.pool },
        { provide: EVENT_STORE, useValue: infrastructure.eventStore },
        { provide: LOGGER, useValue: infrastructure.logger },
        { provide: APP_GUARD, useClass: ApiKeyGuard }, // first: only verified keys are charged to a budget
        { provide: APP_GUARD, useClass: ThrottlerGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
        ReadModelWaiter,
        WorkerStatus,
        CatalogService,
        InstallationsService,
        InstalledProvidersQueries,
        RuntimeService,
        ...COMMAND_HANDLERS,
        ...QUERY_HANDLERS,
      ],
      exports: [WorkerStatus],
    };
  }
}
