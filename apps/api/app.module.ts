import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import { TerminusModule } from '@nestjs/terminus';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { Infrastructure } from '../../libs/infrastructure/infrastructure';
import { ChangeVersionHandler } from '../../libs/installations/change-version.handler';
import { InstallProviderHandler } from '../../libs/installations/install-provider.handler';
import { InstallationHistoryHandler } from '../../libs/installations/installation-history.query';
import { ReconfigureInstallationHandler } from '../../libs/installations/reconfigure-installation.handler';
import { RecordRegistrationHandler } from '../../libs/installations/record-registration.handler';
import { RedeployInstallationHandler } from '../../libs/installations/redeploy-installation.handler';
import { RollbackInstallationHandler } from '../../libs/installations/rollback-installation.handler';
import { ReportHeartbeatHandler } from '../../libs/installations/report-heartbeat.handler';
import { UninstallProviderHandler } from '../../libs/installations/uninstall-provider.handler';
import { DeleteProviderHandler } from '../../libs/providers/delete-provider.handler';
import { ProviderHistoryHandler } from '../../libs/providers/provider-history.query';
import { PublishVersionHandler } from '../../libs/providers/publish-version.handler';
import { UpdateProviderMetadataHandler } from '../../libs/providers/update-provider-metadata.handler';
import { YankVersionHandler } from '../../libs/providers/yank-version.handler';
import { GetCatalogEntryHandler, SearchCatalogHandler } from '../../projections/catalog.queries';
import { GetDeploymentHandler, GetInstalledProviderHandler, ListInstalledProvidersHandler } from '../../projections/installed-providers.queries';
import { GetVersionHandler, ListVersionsHandler } from '../../projections/provider-versions.queries';
import { GetOrganizationHandler, ListOrganizationsHandler } from '../../projections/organizations.queries';
import { OrganizationsController } from './organizations/organizations.controller';
import { GetArtifactHandler } from '../../libs/artifacts/get-artifact.query';
import { ArtifactsController } from './artifacts/artifacts.controller';
import { HistoryController } from './audit/history.controller';
import { ApiKeyGuard } from './auth/api-key.guard';
import { CatalogController } from './catalog/catalog.controller';
import { InstallationsController } from './installations/installations.controller';
import { OperationsController } from './operations/operations.controller';
import { WorkerStatus } from './operations/worker-status';
import { ErrorFilter } from './platform/error.filter';
import { ReadModelCatchUpInterceptor } from './platform/read-model-catch-up.interceptor';
import { ReadModelWaiter, readModelsCommandsAwait } from './platform/read-model-waiter';
import { rateLimitOptions } from './platform/rate-limit';
import { EVENT_STORE, INFRASTRUCTURE, LOGGER, PG_POOL } from './platform/tokens';
import { ProviderVersionsController } from './provider-versions/provider-versions.controller';
import { RuntimeController } from './runtime/runtime.controller';
import { PublishUploadController } from './provider-versions/publish-upload.controller';
import { PublishUploadHandler } from '../../libs/providers/publish-upload.handler';

const COMMAND_HANDLERS = [
  PublishVersionHandler,
  YankVersionHandler,
  UpdateProviderMetadataHandler,
  DeleteProviderHandler,
  InstallProviderHandler,
  ChangeVersionHandler,
  ReconfigureInstallationHandler,
  RedeployInstallationHandler,
  RollbackInstallationHandler,
  UninstallProviderHandler,
  RecordRegistrationHandler,
  ReportHeartbeatHandler,
  PublishUploadHandler,
];
const QUERY_HANDLERS = [
  SearchCatalogHandler,
  GetCatalogEntryHandler,
  ListVersionsHandler,
  GetVersionHandler,
  ListInstalledProvidersHandler,
  GetInstalledProviderHandler,
  GetDeploymentHandler,
  InstallationHistoryHandler,
  ProviderHistoryHandler,
  ListOrganizationsHandler,
  GetOrganizationHandler,
  GetArtifactHandler,
];

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
      controllers: [InstallationsController, HistoryController, ProviderVersionsController, CatalogController, RuntimeController, OperationsController, ArtifactsController, OrganizationsController, PublishUploadController],
      providers: [
        { provide: INFRASTRUCTURE, useValue: infrastructure },
        { provide: PG_POOL, useValue: infrastructure.pool },
        { provide: EVENT_STORE, useValue: infrastructure.eventStore },
        { provide: LOGGER, useValue: infrastructure.logger },
        { provide: APP_GUARD, useClass: ApiKeyGuard }, // first: only verified keys are charged to a budget
        { provide: APP_GUARD, useClass: ThrottlerGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
        // Read-your-writes on EventStoreDB; absent where commands wait for nothing (it would still cost every request).
        ...(readModelsCommandsAwait(infrastructure).length > 0 ? [{ provide: APP_INTERCEPTOR, useClass: ReadModelCatchUpInterceptor }] : []),
        ReadModelWaiter,
        WorkerStatus,
        ...COMMAND_HANDLERS,
        ...QUERY_HANDLERS,
      ],
      exports: [WorkerStatus],
    };
  }
}
