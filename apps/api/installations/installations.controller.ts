import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query, Req, Res } from '@nestjs/common';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { configuredDeployer } from '../../../libs/installations/deployment-name';
import { INFRASTRUCTURE } from '../platform/tokens';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiBody, ApiHeader, ApiOkResponse, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { HttpRequest, HttpResponse } from '../platform/http-types';
import { ChangeVersionCommand } from '../../../libs/installations/change-version.handler';
import { InstallProviderCommand } from '../../../libs/installations/install-provider.handler';
import { ReconfigureInstallationCommand } from '../../../libs/installations/reconfigure-installation.handler';
import { RedeployInstallationCommand } from '../../../libs/installations/redeploy-installation.handler';
import { RollbackInstallationCommand } from '../../../libs/installations/rollback-installation.handler';
import { InstallationResult, TenantInstallation } from '../../../libs/installations/tenant-installation-command';
import { UninstallProviderCommand } from '../../../libs/installations/uninstall-provider.handler';
import { parseCanonical } from '../../../libs/providers/provider-identity';
import { HEALTH_STATES, LIFECYCLE_STATES } from '../../../libs/installations/installation.events';
import { RequireScope } from '../auth/auth.decorators';
import { CurrentPrincipal, Principal } from '../auth/principal';
import { setCommandHeaders } from '../platform/command-response';
import { ErrorBody } from '../platform/error-body';
import { asOfParam, enumParam, providerFromPath } from '../platform/path-params';
import { LIST_HEADERS, listWindowOf, setListHeaders } from '../platform/pagination';
import { ReadModelWaiter } from '../platform/read-model-waiter';
import { commandContext } from '../platform/request-context';
import {
  DeployProviderDto,
  DeploymentResultResponse,
  DowngradeProviderDto,
  InstallProviderDto,
  InstalledProviderResponse,
  RollbackInstallationDto,
  UpdateInstallationDto,
  UpgradeProviderDto,
} from './installation.dto';
import { deploymentFromResult, installedFromState } from './installed-provider.mapping';
import { GetDeploymentQuery, GetInstalledProviderQuery, ListInstalledProvidersQuery } from '../../../projections/installed-providers.queries';

const COMMAND_HEADERS = {
  ETag: { description: 'Stream revision after the command, quoted' },
  'X-Position': { description: 'Global log position of the last appended event (commit:prepare)' },
};
const IDEMPOTENCY = { name: 'Idempotency-Key', required: false, description: '1–200 characters; a retry with the same key and body appends nothing' };
const CASCADE =
  'Accepted (query or body) for the SDK, which sends it; it has no further effect here: nothing else depends on an installation, so uninstalling already removes everything it has.';
const IF_MATCH = { name: 'If-Match', required: false, description: 'Quoted stream revision; 412 when the installation has moved on' };

@ApiTags('installations')
@ApiBearerAuth()
@ApiResponse({ status: 401, type: ErrorBody })
@Controller('providers')
export class InstallationsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    private readonly readModel: ReadModelWaiter,
    @Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'config'>,
  ) {}

  @Post('install')
  @RequireScope('install')
  @HttpCode(201)
  @ApiOperation({ summary: 'Install a provider (PENDING); the installer deploys it out of band' })
  @ApiHeader(IDEMPOTENCY)
  @ApiResponse({ status: 201, type: InstalledProviderResponse, headers: COMMAND_HEADERS })
  @ApiResponse({ status: 404, type: ErrorBody, description: 'provider_not_found, version_not_found' })
  @ApiResponse({ status: 409, type: ErrorBody, description: 'already_installed, concurrent_modification, idempotency_key_reused' })
  @ApiResponse({ status: 422, type: ErrorBody, description: 'validation_failed, reserved_config_key, config_invalid, version_yanked, invalid_provider_name' })
  async install(@Body() body: InstallProviderDto, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    const target = { tenant: principal.organizationId, provider: parseCanonical(body.provider_name) };
    const command = new InstallProviderCommand(
      target,
      body.version ?? null,
      body.resource_tier ?? 'standard',
      body.upgrade_policy ?? 'manual',
      body.config ?? {},
      commandContext(request, principal),
      body.secret_config ?? {},
    );
    return respond(response, await this.commands.execute(command));
  }

  @Get('installed')
  @RequireScope('read')
  @ApiOperation({ summary: "The organisation's installations", description: 'A JSON array of every matching installation unless `limit` is given; the total is in X-Total-Count, further pages in Link.' })
  @ApiQuery({ name: 'lifecycle_state', required: false, enum: LIFECYCLE_STATES })
  @ApiQuery({ name: 'health', required: false, enum: HEALTH_STATES })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100 }, description: 'Absent: every installation' })
  @ApiQuery({ name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } })
  @ApiQuery({ name: 'min_position', required: false, description: 'Wait (≤ 5 s) until the read model has reached this X-Position' })
  @ApiOkResponse({ type: [InstalledProviderResponse], headers: LIST_HEADERS })
  async list(@Query() query: Record<string, unknown>, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    const lifecycle_state = enumParam(query.lifecycle_state, 'lifecycle_state', LIFECYCLE_STATES);
    const health = enumParam(query.health, 'health', HEALTH_STATES);
    const window = listWindowOf(query);
    await this.readModel.waitIfAsked(request, 'installed-providers', 'catalog'); // upgrade_available comes from the catalog
    const { items, total } = await this.queries.execute(new ListInstalledProvidersQuery(principal.organizationId, { lifecycleState: lifecycle_state, health }, window));
    setListHeaders(request, response, window, total);
    return items;
  }

  @Get('installed/:prefix/:name')
  @RequireScope('read')
  @ApiOperation({ summary: 'One installation; with as_of, as it was at that instant (folded from history)' })
  @ApiQuery({ name: 'as_of', required: false, description: 'RFC 3339 timestamp' })
  @ApiQuery({ name: 'min_position', required: false })
  @ApiOkResponse({ type: InstalledProviderResponse, headers: { ETag: { description: 'Stream revision' } } })
  @ApiResponse({ status: 404, type: ErrorBody, description: 'not_installed (also for another organisation’s installation)' })
  async get(@Param('prefix') prefix: string, @Param('name') name: string, @Query('as_of') asOf: unknown, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    const provider = providerFromPath(prefix, name);
    const instant = asOfParam(asOf);
    if (!instant) await this.readModel.waitIfAsked(request, 'installed-providers', 'catalog');
    const { body, revision } = await this.queries.execute(new GetInstalledProviderQuery(principal.organizationId, provider, instant));
    response.header('ETag', `"${revision}"`);
    return body;
  }

  @Patch('installed/:prefix/:name')
  @RequireScope('install')
  @ApiOperation({ summary: 'Reconfigure: config or tier changes redeploy (PENDING); the policy alone does not' })
  @ApiHeader(IDEMPOTENCY)
  @ApiHeader(IF_MATCH)
  @ApiResponse({ status: 200, type: InstalledProviderResponse, headers: COMMAND_HEADERS })
  @ApiResponse({ status: 409, type: ErrorBody, description: 'installation_deleting, concurrent_modification' })
  @ApiResponse({ status: 412, type: ErrorBody, description: 'revision_mismatch' })
  @ApiResponse({ status: 422, type: ErrorBody, description: 'validation_failed, reserved_config_key, config_invalid' })
  async reconfigure(@Param('prefix') prefix: string, @Param('name') name: string, @Body() body: UpdateInstallationDto, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    const changes = { config: body.config, secretConfig: body.secret_config, resourceTier: body.resource_tier, upgradePolicy: body.upgrade_policy };
    return respond(response, await this.commands.execute(new ReconfigureInstallationCommand(target(principal, prefix, name), changes, commandContext(request, principal))));
  }

  @Post('installed/:prefix/:name/upgrade')
  @RequireScope('install')
  @HttpCode(200)
  @ApiOperation({ summary: 'Upgrade to a newer version (null or absent = latest)' })
  @ApiHeader(IDEMPOTENCY)
  @ApiHeader(IF_MATCH)
  @ApiResponse({ status: 200, type: InstalledProviderResponse, headers: COMMAND_HEADERS })
  @ApiResponse({ status: 409, type: ErrorBody, description: 'already_at_version, installation_deleting, concurrent_modification' })
  @ApiResponse({ status: 422, type: ErrorBody, description: 'not_an_upgrade, version_yanked, config_invalid (the current config violates the target config_schema; the message names the keys)' })
  async upgrade(@Param('prefix') prefix: string, @Param('name') name: string, @Body() body: UpgradeProviderDto, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    return respond(response, await this.commands.execute(new ChangeVersionCommand(target(principal, prefix, name), 'up', body.version ?? null, commandContext(request, principal))));
  }

  @Post('installed/:prefix/:name/downgrade')
  @RequireScope('install')
  @HttpCode(200)
  @ApiOperation({ summary: 'Downgrade to an older version' })
  @ApiHeader(IDEMPOTENCY)
  @ApiHeader(IF_MATCH)
  @ApiResponse({ status: 200, type: InstalledProviderResponse, headers: COMMAND_HEADERS })
  @ApiResponse({ status: 409, type: ErrorBody, description: 'already_at_version, installation_deleting, concurrent_modification' })
  @ApiResponse({ status: 422, type: ErrorBody, description: 'not_a_downgrade, version_yanked, config_invalid (the current config violates the target config_schema; the message names the keys)' })
  async downgrade(@Param('prefix') prefix: string, @Param('name') name: string, @Body() body: DowngradeProviderDto, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    return respond(response, await this.commands.execute(new ChangeVersionCommand(target(principal, prefix, name), 'down', body.target_version, commandContext(request, principal))));
  }

  @Post('installed/:prefix/:name/rollback')
  @RequireScope('install')
  @HttpCode(200)
  @ApiOperation({ summary: 'Back to the version serving (after a failed rollout) or the one that served before it, as a new generation' })
  @ApiHeader(IDEMPOTENCY)
  @ApiHeader(IF_MATCH)
  @ApiResponse({ status: 200, type: InstalledProviderResponse, headers: COMMAND_HEADERS })
  @ApiResponse({ status: 409, type: ErrorBody, description: 'nothing_to_roll_back, installation_deleting, concurrent_modification' })
  async rollback(@Param('prefix') prefix: string, @Param('name') name: string, @Body() _body: RollbackInstallationDto, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    return respond(response, await this.commands.execute(new RollbackInstallationCommand(target(principal, prefix, name), commandContext(request, principal))));
  }

  @Delete('installed/:prefix/:name')
  @RequireScope('install')
  @HttpCode(202)
  @ApiOperation({ summary: 'Uninstall (DELETING); the installer removes the deployment' })
  @ApiQuery({ name: 'cascade', required: false, schema: { type: 'boolean' }, description: CASCADE })
  @ApiBody({ required: false, schema: { type: 'object', additionalProperties: true, properties: { cascade: { type: 'boolean', description: CASCADE } } } })
  @ApiHeader(IDEMPOTENCY)
  @ApiHeader(IF_MATCH)
  @ApiResponse({ status: 202, type: InstalledProviderResponse, headers: COMMAND_HEADERS })
  async uninstall(@Param('prefix') prefix: string, @Param('name') name: string, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    return respond(response, await this.commands.execute(new UninstallProviderCommand(target(principal, prefix, name), commandContext(request, principal))));
  }

  @Get('installed/:prefix/:name/deployment')
  @RequireScope('read')
  @ApiOperation({ summary: 'Rollout status of the current generation' })
  @ApiOkResponse({ type: DeploymentResultResponse })
  @ApiResponse({ status: 404, type: ErrorBody, description: 'not_installed, not_deployed' })
  async deployment(@Param('prefix') prefix: string, @Param('name') name: string, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest) {
    const provider = providerFromPath(prefix, name);
    await this.readModel.waitIfAsked(request, 'installed-providers');
    return this.queries.execute(new GetDeploymentQuery(principal.organizationId, provider));
  }

  @Post('installed/:prefix/:name/deploy')
  @RequireScope('install')
  @HttpCode(200)
  @ApiOperation({ summary: 'Redeploy the installed (or given) version as a new generation' })
  @ApiHeader(IDEMPOTENCY)
  @ApiHeader(IF_MATCH)
  @ApiResponse({ status: 200, type: DeploymentResultResponse, headers: COMMAND_HEADERS })
  async deploy(@Param('prefix') prefix: string, @Param('name') name: string, @Body() body: DeployProviderDto, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse): Promise<DeploymentResultResponse> {
    const result = await this.commands.execute(new RedeployInstallationCommand(target(principal, prefix, name), body.version ?? null, commandContext(request, principal)));
    setCommandHeaders(response, result.outcome);
    return deploymentFromResult(result, configuredDeployer(this.infrastructure.config));
  }
}

/** The caller's own installation of the provider named in the path: a tenant can name no other. */
function target(principal: Principal, prefix: string, name: string): TenantInstallation {
  return { tenant: principal.organizationId, provider: providerFromPath(prefix, name) };
}

function respond(response: HttpResponse, result: InstallationResult): InstalledProviderResponse {
  setCommandHeaders(response, result.outcome);
  return installedFromState(result.installation, result.latestVersion);
}

