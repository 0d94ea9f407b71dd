import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { HttpRequest, HttpResponse } from '../platform/http-types';
import { DomainError } from '../../../libs/domain/domain-error';
import { TOKEN_PATTERN } from '../../../libs/providers/provider-identity';
import { GetOrganizationQuery, ListOrganizationsQuery, OrganizationVisibility } from '../../../projections/organizations.queries';
import { RequireScope } from '../auth/auth.decorators';
import { CurrentPrincipal, Principal } from '../auth/principal';
import { ErrorBody } from '../platform/error-body';
import { listWindowOf, setListHeaders } from '../platform/pagination';
import { ReadModelWaiter } from '../platform/read-model-waiter';
import { OrganizationResponse } from './organization.response';

/** An organisation's key sees its own organisation; a platform admin's sees them all. */
@ApiTags('organizations')
@ApiBearerAuth()
@ApiResponse({ status: 401, type: ErrorBody })
@Controller('organizations')
export class OrganizationsController {
  constructor(
    private readonly queries: QueryBus,
    private readonly readModel: ReadModelWaiter,
  ) {}

  @Get()
  @RequireScope('read')
  @ApiOperation({ summary: 'The organisations the key may see', description: 'A JSON array, complete unless `limit` is given; the total is in X-Total-Count, further pages in Link.' })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100 } })
  @ApiQuery({ name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } })
  @ApiOkResponse({ type: [OrganizationResponse], headers: { 'X-Total-Count': { description: 'Number of organisations visible' }, Link: { description: 'RFC 8288 next/prev' } } })
  async list(@Query() query: Record<string, unknown>, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    const window = listWindowOf(query);
    await this.readModel.waitIfAsked(request, 'organizations');
    const { items, total } = await this.queries.execute(new ListOrganizationsQuery(visibilityOf(principal), window));
    setListHeaders(request, response, window, total);
    return items;
  }

  @Get(':id')
  @RequireScope('read')
  @ApiOperation({ summary: 'One organisation' })
  @ApiOkResponse({ type: OrganizationResponse })
  @ApiResponse({ status: 404, type: ErrorBody, description: 'organization_not_found (also for another organisation than the key’s)' })
  async get(@Param('id') id: string, @CurrentPrincipal() principal: Principal, @Req() request: HttpRequest): Promise<OrganizationResponse> {
    // A path no organisation can have names none: 404, and the text is not echoed back.
    if (!TOKEN_PATTERN.test(id)) throw new DomainError('not_found', 'organization_not_found', 'No such organisation.');
    await this.readModel.waitIfAsked(request, 'organizations');
    return this.queries.execute(new GetOrganizationQuery(id, visibilityOf(principal)));
  }
}

function visibilityOf(principal: Principal): OrganizationVisibility {
  return principal.platformAdmin ? 'all' : { only: principal.organizationId };
}
