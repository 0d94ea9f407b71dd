import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { HttpRequest, HttpResponse } from '../platform/http-types';
import { PublishVersionCommand } from '../../../libs/providers/publish-version.handler';
import { YankVersionCommand } from '../../../libs/providers/yank-version.handler';
import { GetVersionQuery, ListVersionsQuery } from '../../../projections/provider-versions.queries';
import { RequireScope } from '../auth/auth.decorators';
import { CurrentPrincipal, Principal } from '../auth/principal';
import { setCommandHeaders } from '../platform/command-response';
import { ErrorBody } from '../platform/error-body';
import { asOfParam, enumParam, providerFromPath } from '../platform/path-params';
import { LIST_HEADERS, listWindowOf, setListHeaders } from '../platform/pagination';
import { ReadModelWaiter } from '../platform/read-model-waiter';
import { commandContext } from '../platform/request-context';
import { ProviderVersionResponse, versionFromState } from './provider-version.response';
import { PublishVersionDto, YankVersionDto, versionToPublish } from './publish-version.dto';

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
  async publish(@Body() body: PublishVersionDto, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    const published = versionToPublish(body);
    const { outcome, version } = await this.commands.execute(new PublishVersionCommand(published, principal, commandContext(request, principal)));
    setCommandHeaders(response, outcome);
    return versionFromState(published.provider, version);
  }

  @Get('providers/:prefix/:name/versions')
  @RequireScope('read')
  @ApiOperation({ summary: 'List versions, newest semver first', description: 'A JSON array of every matching version unless `limit` is given; the total is in X-Total-Count, further pages in Link.' })
  @ApiQuery({ name: 'status', required: false, enum: ['building', 'published', 'failed', 'yanked'] })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100 }, description: 'Absent: every version' })
  @ApiQuery({ name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } })
  @ApiQuery({ name: 'min_position', required: false, description: 'Wait until the read model has reached this position' })
  @ApiQuery({ name: 'as_of', required: false, description: 'RFC 3339 timestamp: the versions as they were then, folded from history' })
  @ApiOkResponse({ type: [ProviderVersionResponse], headers: LIST_HEADERS })
  async list(
    @Param('prefix') prefix: string,
    @Param('name') name: string,
    @Query() query: Record<string, unknown>,
    @CurrentPrincipal() principal: Principal,
    @Req() request: HttpRequest,
    @Res({ passthrough: true }) response: HttpResponse,
  ) {
    const provider = providerFromPath(prefix, name);
    const status = enumParam(query.status, 'status', ['building', 'published', 'failed', 'yanked'] as const);
    const window = listWindowOf(query);
    const asOf = asOfParam(query.as_of);
    if (!asOf) await this.readModel.waitIfAsked(request, 'provider-versions', 'catalog'); // visibility comes from the catalog
    const { items, total } = await this.queries.execute(new ListVersionsQuery(provider, status, window, principal, asOf));
    setListHeaders(request, response, window, total);
    return items;
  }

  @Get('providers/:prefix/:name/versions/:version')
  @RequireScope('read')
  @ApiOperation({ summary: 'Get one version' })
  @ApiQuery({ name: 'min_position', required: false })
  @ApiQuery({ name: 'as_of', required: false, description: 'RFC 3339 timestamp: the version as it was then (e.g. before a yank)' })
  @ApiOkResponse({ type: ProviderVersionResponse })
  @ApiResponse({ status: 404, type: ErrorBody })
  async get(
    @Param('prefix') prefix: string,
    @Param('name') name: string,
    @Param('version') version: string,
    @Query('as_of') rawAsOf: unknown,
    @CurrentPrincipal() principal: Principal,
    @Req() request: HttpRequest,
    @Res({ passthrough: true }) response: HttpResponse,
  ) {
    const provider = providerFromPath(prefix, name);
    const asOf = asOfParam(rawAsOf);
    if (!asOf) await this.readModel.waitIfAsked(request, 'provider-versions', 'catalog'); // visibility comes from the catalog
    const { body, streamRevision } = await this.queries.execute(new GetVersionQuery(provider, version, principal, asOf));
    if (streamRevision !== null) response.header('ETag', `"${streamRevision}"`);
    return body;
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
    @Req() request: HttpRequest,
    @Res({ passthrough: true }) response: HttpResponse,
  ) {
    const provider = providerFromPath(prefix, name);
    const yanked = await this.commands.execute(new YankVersionCommand(provider, version, body.reason ?? null, principal, commandContext(request, principal)));
    setCommandHeaders(response, yanked.outcome);
    return versionFromState(provider, yanked.version);
  }
}
