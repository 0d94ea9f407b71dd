import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { HttpRequest, HttpResponse } from '../platform/http-types';
import { DomainError } from '../../../libs/domain/domain-error';
import { RequireScope } from '../auth/auth.decorators';
import { CurrentPrincipal, Principal } from '../auth/principal';
import { setCommandHeaders } from '../platform/command-response';
import { ErrorBody } from '../platform/error-body';
import { enumParam, listParam, pageOf, providerFromPath } from '../platform/path-params';
import { PROVIDER_SCOPES } from '../../../libs/providers/provider.events';
import { LIST_HEADERS, setListHeaders } from '../platform/pagination';
import { ReadModelWaiter } from '../platform/read-model-waiter';
import { commandContext } from '../platform/request-context';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { DeleteProviderCommand } from '../../../libs/providers/delete-provider.handler';
import { UpdateProviderMetadataCommand } from '../../../libs/providers/update-provider-metadata.handler';
import { GetCatalogEntryQuery, SearchCatalogQuery } from '../../../projections/catalog.queries';
import { ProviderPage, ProviderResponse, UpdateProviderDto } from './catalog.dto';
import { providerFromState } from './catalog-provider.mapping';
import { catalogMetadataOf } from '../provider-versions/publish-version.dto';

@ApiTags('catalog')
@ApiBearerAuth()
@ApiResponse({ status: 401, type: ErrorBody })
@Controller('providers')
export class CatalogController {
  constructor(
    private readonly commands: CommandBus,
    private readonly queries: QueryBus,
    private readonly readModel: ReadModelWaiter,
  ) {}

  @Get()
  @RequireScope('read')
  @ApiOperation({ summary: 'Search the catalog', description: 'A page of the providers the caller may see (public ones, and its own private ones); further pages in Link.' })
  @ApiQuery({ name: 'q', required: false, description: 'Text in the name, display name or description (≤ 200 chars)' })
  @ApiQuery({
    name: 'tags',
    required: false,
    style: 'form',
    explode: true,
    schema: { type: 'array', items: { type: 'string' }, maxItems: 20 },
    description: 'Repeated (tags=a&tags=b) or comma-joined (tags=a,b); a provider must carry all of them',
  })
  @ApiQuery({ name: 'scope', required: false, enum: PROVIDER_SCOPES, description: '`public`: public providers only; `tenant`: the caller’s own private providers' })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } })
  @ApiQuery({ name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } })
  @ApiOkResponse({ type: ProviderPage, headers: LIST_HEADERS })
  async list(@Query() query: Record<string, unknown>, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    const q = typeof query.q === 'string' ? query.q : undefined;
    if (query.q !== undefined && (typeof query.q !== 'string' || query.q.length > 200)) {
      throw new DomainError('invalid', 'validation_failed', 'q must be a string of at most 200 characters.');
    }
    const tags = listParam(query.tags, 'tags', 20);
    const scope = enumParam(query.scope, 'scope', PROVIDER_SCOPES);
    const page = pageOf(query);
    await this.readModel.waitIfAsked(request, 'catalog');
    const result = await this.queries.execute(new SearchCatalogQuery(q, tags, page, principal, scope));
    setListHeaders(request, response, page, result.total);
    return result;
  }

  @Get(':prefix/:name')
  @RequireScope('read')
  @ApiOperation({ summary: 'Get a catalog entry' })
  @ApiOkResponse({ type: ProviderResponse })
  @ApiResponse({ status: 404, type: ErrorBody })
  async get(@Param('prefix') prefix: string, @Param('name') name: string, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest) {
    const provider = providerFromPath(prefix, name);
    await this.readModel.waitIfAsked(request, 'catalog');
    return this.queries.execute(new GetCatalogEntryQuery(provider, principal));
  }

  @Patch(':prefix/:name')
  @RequireScope('publish')
  @ApiOperation({ summary: 'Update catalog metadata (publisher)' })
  @ApiOkResponse({ type: ProviderResponse })
  @ApiResponse({ status: 403, type: ErrorBody })
  @ApiResponse({ status: 404, type: ErrorBody })
  async update(
    @Param('prefix') prefix: string,
    @Param('name') name: string,
    @Body() body: UpdateProviderDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: HttpRequest,
    @Res({ passthrough: true }) response: HttpResponse,
  ) {
    const provider = providerFromPath(prefix, name);
    const { outcome, provider: state, installCount } = await this.commands.execute(new UpdateProviderMetadataCommand(provider, catalogMetadataOf(body), principal, commandContext(request, principal)));
    setCommandHeaders(response, outcome);
    return providerFromState(state, installCount);
  }

  @Delete(':prefix/:name')
  @RequireScope('publish')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a provider from the catalog (its history stays)' })
  @ApiResponse({ status: 204 })
  @ApiResponse({ status: 409, type: ErrorBody, description: 'provider_in_use' })
  async remove(@Param('prefix') prefix: string, @Param('name') name: string, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    const provider = providerFromPath(prefix, name);
    const outcome = await this.commands.execute(new DeleteProviderCommand(provider, principal, commandContext(request, principal)));
    setCommandHeaders(response, outcome);
  }
}
