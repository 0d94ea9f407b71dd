import { Controller, Get, Param, Query } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { InstallationHistoryQuery } from '../../../libs/installations/installation-history.query';
import { ProviderHistoryQuery } from '../../../libs/providers/provider-history.query';
import { RequireScope } from '../auth/auth.decorators';
import { CurrentPrincipal, Principal } from '../auth/principal';
import { ErrorBody } from '../platform/error-body';
import { pageOf, providerFromPath } from '../platform/path-params';
import { HistoryPage } from '../installations/installation.dto';

const LIMIT = { name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 50 } };
const OFFSET = { name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } };

/** The audit trail: a stream's events as stored (upcast to today's shape), oldest first, paged. */
@ApiTags('audit')
@ApiBearerAuth()
@ApiResponse({ status: 401, type: ErrorBody })
@Controller('providers')
export class HistoryController {
  constructor(private readonly queries: QueryBus) {}

  @Get('installed/:prefix/:name/history')
  @RequireScope('read')
  @ApiOperation({ summary: "An installation's history (the organisation's own only)" })
  @ApiQuery(LIMIT)
  @ApiQuery(OFFSET)
  @ApiOkResponse({ type: HistoryPage })
  @ApiResponse({ status: 404, type: ErrorBody })
  installationHistory(@Param('prefix') prefix: string, @Param('name') name: string, @Query() query: Record<string, unknown>, @CurrentPrincipal() principal: Principal): Promise<HistoryPage> {
    return this.queries.execute(new InstallationHistoryQuery(principal.organizationId, providerFromPath(prefix, name), pageOf(query, 50)));
  }

  @Get(':prefix/:name/history')
  @RequireScope('read')
  @ApiOperation({ summary: "A provider's history (its publishing organisation and platform admins only)" })
  @ApiQuery(LIMIT)
  @ApiQuery(OFFSET)
  @ApiOkResponse({ type: HistoryPage })
  @ApiResponse({ status: 404, type: ErrorBody })
  providerHistory(@Param('prefix') prefix: string, @Param('name') name: string, @Query() query: Record<string, unknown>, @CurrentPrincipal() principal: Principal): Promise<HistoryPage> {
    return this.queries.execute(new ProviderHistoryQuery(providerFromPath(prefix, name), principal, pageOf(query, 50)));
  }
}
