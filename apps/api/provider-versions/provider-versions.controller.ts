import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import * as semver from 'semver';
import { loadState } from '../../../libs/application/stream-state';
import { providerDecider } from '../../../libs/providers/provider.decider';
import { ProviderId, canonicalOf, providerStream } from '../../../libs/providers/provider-identity';
import { notFound } from '../../../libs/domain/domain-error';
import { EventStore } from '../../../libs/event-store/event-store.port';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { INFRASTRUCTURE } from '../platform/tokens';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { RequireScope } from '../auth/auth.decorators';
import { CurrentPrincipal, Principal } from '../auth/principal';
import { setCommandHeaders } from '../platform/command-response';
import { ErrorBody } from '../platform/error-body';
import { asOfParam, enumParam, pageOf, providerFromPath } from '../platform/path-params';
import { ReadModelWaiter } from '../platform/read-model-waiter';
import { commandContext } from '../platform/request-context';
import { PublishVersionCommand, PublishOutcome } from '../../../libs/providers/publish-version.handler';
import { PublishVersionDto, YankVersionDto } from './publish-version.dto';
import { ProviderVersionResponse, versionFromRow, versionFromState } from './provider-version.response';
import { GetVersionQuery, ListVersionsQuery, VersionWithRevision } from '../../../projections/provider-versions.queries';
import { YankVersionCommand } from '../../../libs/providers/yank-version.handler';
import { CommandOutcome } from '../../../libs/application/command-runner';
import { ProviderState } from '../../../libs/providers/provider.decider';
import { ProviderVersionRow } from '../../../libs/read-models/entities/provider-version.entity';

const COMMAND_HEADERS = {
  ETag: { description: 'Stream revision after the command, quoted' },
  'X-Position': { description: 'Global log position of the last appended event (commit:prepare)' },
};

@ApiTags('publishing')
@ApiBearerAuth()
@ApiResponse({ status: 401, type: ErrorBody, description: 'Missing or invalid API key' })
@Controller()
export class ProviderVersionsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    private readonly readModel: ReadModelWaiter,
    @Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure,
  ) {}

  @Post('provider-versions')
  @RequireScope('publish')
  @HttpCode(201)
  @ApiOperation({ summary: 'Publish a wheel provider version', description: 'With sha256, the wheel is downloaded and verified first; nothing is stored on failure.' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '1–200 characters' })
  @ApiResponse({ status: 201, type: ProviderVersionResponse, headers: COMMAND_HEADERS })
  @ApiResponse({ status: 403, type: ErrorBody, description: 'prefix_not_owned, platform_admin_required, missing_scope' })
  @ApiResponse({ status: 409, type: ErrorBody, description: 'version_exists, concurrent_modification, idempotency_key_reused' })
  @ApiResponse({ status: 422, type: ErrorBody, description: 'validation_failed, invalid_provider_name, invalid_wheel_url, sha256_mismatch, wheel_unreachable' })
  async publish(@Body() body: PublishVersionDto, @CurrentPrincipal() principal: Principal, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const { provider, outcome } = await this.commands.execute<PublishVersionCommand, PublishOutcome>(
      new PublishVersionCommand(body, principal, commandContext(request, principal)),
    );
    setCommandHeaders(response, outcome);
    return versionFromState(provider, versionOf(outcome, body.version));
  }

  @Get('providers/:prefix/:name/versions')
  @RequireScope('read')
  @ApiOperation({ summary: 'List versions, newest semver first', description: 'A JSON array; the total is in X-Total-Count.' })
  @ApiQuery({ name: 'status', required: false, enum: ['building', 'published', 'failed', 'yanked'] })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } })
  @ApiQuery({ name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } })
  @ApiQuery({ name: 'min_position', required: false, description: 'Wait until the read model has reached this position' })
  @ApiQuery({ name: 'as_of', required: false, description: 'RFC 3339 timestamp: the versions as they were then, folded from history' })
  @ApiOkResponse({ type: [ProviderVersionResponse], headers: { 'X-Total-Count': { description: 'Number of matching versions' } } })
  async list(@Param('prefix') prefix: string, @Param('name') name: string, @Query() query: Record<string, unknown>, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const provider = providerFromPath(prefix, name);
    const status = enumParam(query.status, 'status', ['building', 'published', 'failed', 'yanked'] as const);
    const page = pageOf(query);
    const asOf = asOfParam(query.as_of);
    if (asOf) {
      const versions = Object.values(await this.pastVersions(provider, asOf))
        .filter((v) => !status || v.status === status)
        .sort((a, b) => semver.rcompare(a.version, b.version));
      response.setHeader('X-Total-Count', String(versions.length));
      return versions.slice(page.offset, page.offset + page.limit).map((v) => versionFromState(provider, v));
    }
    await this.readModel.waitIfAsked(request, 'provider-versions');
    const { items, total } = await this.queries.execute<ListVersionsQuery, { items: ProviderVersionRow[]; total: number }>(
      new ListVersionsQuery(provider, status, page.limit, page.offset),
    );
    response.setHeader('X-Total-Count', String(total));
    return items.map(versionFromRow);
  }

  @Get('providers/:prefix/:name/versions/:version')
  @RequireScope('read')
  @ApiOperation({ summary: 'Get one version' })
  @ApiQuery({ name: 'min_position', required: false })
  @ApiQuery({ name: 'as_of', required: false, description: 'RFC 3339 timestamp: the version as it was then (e.g. before a yank)' })
  @ApiOkResponse({ type: ProviderVersionResponse })
  @ApiResponse({ status: 404, type: ErrorBody })
  async get(@Param('prefix') prefix: string, @Param('name') name: string, @Param('version') version: string, @Query('as_of') rawAsOf: unknown, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const provider = providerFromPath(prefix, name);
    const asOf = asOfParam(rawAsOf);
    if (asOf) {
      const past = (await this.pastVersions(provider, asOf))[version];
      if (!past) throw notFound('version_not_found', `${canonicalOf(provider)} had no version ${version} at ${asOf.toISOString()}.`);
      return versionFromState(provider, past);
    }
    await this.readModel.waitIfAsked(request, 'provider-versions');
    const { row, streamRevision } = await this.queries.execute<GetVersionQuery, VersionWithRevision>(new GetVersionQuery(provider, version));
    response.setHeader('ETag', `"${streamRevision}"`);
    return versionFromRow(row);
  }

  private pastVersions(provider: ProviderId, asOf: Date) {
    return foldVersionsAt(this.infrastructure.eventStore, provider, asOf);
  }

  @Post('providers/:prefix/:name/versions/:version/yank')
  @RequireScope('publish')
  @HttpCode(200)
  @ApiOperation({ summary: 'Yank a version: never chosen as latest, cannot be newly installed; running installations keep it' })
  @ApiResponse({ status: 200, type: ProviderVersionResponse, headers: COMMAND_HEADERS })
  @ApiResponse({ status: 404, type: ErrorBody, description: 'provider_not_found, version_not_found' })
  @ApiResponse({ status: 409, type: ErrorBody, description: 'version_already_yanked' })
  async yank(
    @Param('prefix') prefix: string,
    @Param('name') name: string,
    @Param('version') version: string,
    @Body() body: YankVersionDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ) {
    const provider = providerFromPath(prefix, name);
    const outcome = await this.commands.execute<YankVersionCommand, CommandOutcome<ProviderState>>(
      new YankVersionCommand(provider, version, body.reason ?? null, principal, commandContext(request, principal)),
    );
    setCommandHeaders(response, outcome);
    return versionFromState(provider, versionOf(outcome, version));
  }
}

/** Time travel reads the provider's stream, not a read model. */
async function foldVersionsAt(store: EventStore, provider: ProviderId, asOf: Date) {
  const { state } = await loadState(store, providerDecider, providerStream(provider), asOf);
  if (state.status === 'unknown') throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} did not exist at ${asOf.toISOString()}.`);
  return state.versions;
}

function versionOf(outcome: CommandOutcome<ProviderState>, version: string) {
  const state = outcome.state;
  if (state.status === 'unknown' || !state.versions[version]) throw new Error(`state lacks version ${version} after the command`);
  return state.versions[version];
}
