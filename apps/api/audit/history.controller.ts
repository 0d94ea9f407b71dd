import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { installationStream } from '../../../libs/installations/installation-identity';
import { mayPublishUnder } from '../../../libs/providers/provider.decider';
import { ProviderId, canonicalOf, providerStream } from '../../../libs/providers/provider-identity';
import { notFound } from '../../../libs/domain/domain-error';
import { upcast } from '../../../libs/domain/upcasters';
import { encodePosition } from '../../../libs/event-store/position';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { RequireScope } from '../auth/auth.decorators';
import { CurrentPrincipal, Principal } from '../auth/principal';
import { ErrorBody } from '../platform/error-body';
import { pageOf, providerFromPath } from '../platform/path-params';
import { INFRASTRUCTURE } from '../platform/tokens';
import { HistoryPage } from '../installations/installation.dto';

/** The audit trail: a stream's events as stored (upcast to today's shape), oldest first, paged. */
@ApiTags('audit')
@ApiBearerAuth()
@ApiResponse({ status: 401, type: ErrorBody })
@Controller('providers')
export class HistoryController {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure) {}

  @Get('installed/:prefix/:name/history')
  @RequireScope('read')
  @ApiOperation({ summary: "An installation's history (the organisation's own only)" })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 50 } })
  @ApiQuery({ name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } })
  @ApiOkResponse({ type: HistoryPage })
  @ApiResponse({ status: 404, type: ErrorBody })
  installationHistory(@Param('prefix') prefix: string, @Param('name') name: string, @Query() query: Record<string, unknown>, @CurrentPrincipal() principal: Principal) {
    const provider = providerFromPath(prefix, name);
    return this.page(installationStream(principal.organizationId, provider), provider, query, 'not_installed');
  }

  @Get(':prefix/:name/history')
  @RequireScope('read')
  @ApiOperation({ summary: "A provider's history (its publishing organisation and platform admins only)" })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 50 } })
  @ApiQuery({ name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } })
  @ApiOkResponse({ type: HistoryPage })
  @ApiResponse({ status: 404, type: ErrorBody })
  providerHistory(@Param('prefix') prefix: string, @Param('name') name: string, @Query() query: Record<string, unknown>, @CurrentPrincipal() principal: Principal) {
    const provider = providerFromPath(prefix, name);
    // Other organisations see a 404, as for anything that is not theirs.
    if (!mayPublishUnder({ organizationId: principal.organizationId, platformAdmin: principal.platformAdmin }, provider.prefix) && !principal.platformAdmin) {
      throw notFound('provider_not_found', `Provider ${canonicalOf(provider)} has no history you can see.`);
    }
    return this.page(providerStream(provider), provider, query, 'provider_not_found');
  }

  private async page(streamName: string, provider: ProviderId, query: Record<string, unknown>, missingCode: string): Promise<HistoryPage> {
    const { limit, offset } = pageOf(query, 50);
    const head = await this.infrastructure.eventStore.readStream(streamName, { direction: 'backwards', maxCount: 1 });
    if (head.length === 0) throw notFound(missingCode, `${canonicalOf(provider)} has no history.`);
    const total = head[0].revision + 1;
    const events = offset < total ? await this.infrastructure.eventStore.readStream(streamName, { fromRevision: offset, maxCount: limit }) : [];
    return {
      items: events.map(upcast).map((e) => ({
        position: encodePosition(e.position),
        revision: e.revision,
        type: e.type,
        occurred_at: e.metadata.occurred_at,
        actor: e.metadata.actor,
        correlation_id: e.metadata.correlation_id,
        data: e.data as Record<string, unknown>,
      })),
      total,
      limit,
      offset,
    };
  }
}
