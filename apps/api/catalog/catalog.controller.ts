import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { DomainError } from '../../../libs/domain/domain-error';
import { RequireScope } from '../auth/auth.decorators';
import { CurrentPrincipal, Principal } from '../auth/principal';
import { setCommandHeaders } from '../platform/command-response';
import { ErrorBody } from '../platform/error-body';
import { pageOf, providerFromPath } from '../platform/path-params';
import { ReadModelWaiter } from '../platform/read-model-waiter';
import { commandContext } from '../platform/request-context';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { DeleteProviderCommand } from '../../../libs/providers/delete-provider.handler';
import { UpdateProviderMetadataCommand } from '../../../libs/providers/update-provider-metadata.handler';
import { GetCatalogEntryQuery, SearchCatalogQuery } from '../../../projections/catalog.queries';
import { ProviderPage, ProviderResponse, UpdateProviderDto } from './catalog.dto';
import { providerFromState } from './catalog-provider.mapping';

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
  @ApiOperation({ summary: 'Search the catalog' })
  @ApiQuery({ name: 'q', required: false, description: 'Text in the name, display name or description (≤ 200 chars)' })
  @ApiQuery({ name: 'tags', required: false, description: 'Comma-separated; a provider must carry all of them' })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } })
  @ApiQuery({ name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } })
  @ApiOkResponse({ type: ProviderPage })
  async list(@Query() query: Record<string, unknown>, @Req() request: Request) {
    const q = typeof query.q === 'string' ? query.q : undefined;
    if (query.q !== undefined && (typeof query.q !== 'string' || query.q.length > 200)) {
      throw new DomainError('invalid', 'validation_failed', 'q must be a string of at most 200 characters.');
    }
    const tags = typeof query.tags === 'string' ? query.tags.split(',').map((t) => t.trim()).filter(Boolean) : [];
    if (query.tags !== undefined && typeof query.tags !== 'string') throw new DomainError('invalid', 'validation_failed', 'tags must be one comma-separated list.');
    const page = pageOf(query);
    await this.readModel.waitIfAsked(request, 'catalog');
    return this.queries.execute(new SearchCatalogQuery(q, tags.slice(0, 20), page));
  }

  @Get(':prefix/:name')
  @RequireScope('read')
  @ApiOperation({ summary: 'Get a catalog entry' })
  @ApiOkResponse({ type: ProviderResponse })
  @ApiResponse({ status: 404, type: ErrorBody })
  async get(@Param('prefix') prefix: string, @Param('name') name: string, @Req() request: Request) {
    const provider = providerFromPath(prefix, name);
    await this.readModel.waitIfAsked(request, 'catalog');
    return this.queries.execute(new GetCatalogEntryQuery(provider));
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
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ) {
    const provider = providerFromPath(prefix, name);
    const { outcome, provider: state, installCount } = await this.commands.execute(new UpdateProviderMetadataCommand(provider, { ...body }, principal, commandContext(request, principal)));
    setCommandHeaders(response, outcome);
    return providerFromState(state, installCount);
  }

  @Delete(':prefix/:name')
  @RequireScope('publish')
  @HttpCode(204)
  @ApiOperation({ summary: 'Remove a provider from the catalog (its history stays)' })
  @ApiResponse({ status: 204 })
  @ApiResponse({ status: 409, type: ErrorBody, description: 'provider_in_use' })
  async remove(@Param('prefix') prefix: string, @Param('name') name: string, @CurrentPrincipal() principal: Principal, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const provider = providerFromPath(prefix, name);
    const outcome = await this.commands.execute(new DeleteProviderCommand(provider, principal, commandContext(request, principal)));
    setCommandHeaders(response, outcome);
  }
}
