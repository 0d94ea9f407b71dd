import { Controller, Get, Inject, OnModuleDestroy, OnModuleInit, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorResult } from '@nestjs/terminus';
import type { HttpResponse } from '../platform/http-types';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { metricsExposition } from '../../../libs/observability/metrics';
import { refreshProcessMetrics, trackProcessMetrics } from '../../../libs/observability/process-metrics';
import { Public, RequireScope } from '../auth/auth.decorators';
import { CurrentPrincipal, Principal } from '../auth/principal';
import { INFRASTRUCTURE } from '../platform/tokens';
import { WorkerStatus } from './worker-status';

class MeResponse {
  @ApiProperty() user_id!: string;
  @ApiProperty() organization_id!: string;
  @ApiProperty() organization_name!: string;
}

@ApiTags('operations')
@Controller()
export class OperationsController implements OnModuleInit, OnModuleDestroy {
  private untrack?: () => void;

  constructor(
    private readonly health: HealthCheckService,
    @Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure,
    private readonly workers: WorkerStatus,
  ) {}

  onModuleInit(): void {
    // The consumers running beside the API (`npm start`, tests) feed the scrape-time gauges too.
    this.untrack = trackProcessMetrics({ ...this.infrastructure, runners: () => this.workers.tracked });
  }

  onModuleDestroy(): void {
    this.untrack?.();
  }

  @Get('health')
  @Public()
  @ApiOperation({ summary: "The SDK's probe" })
  probe() {
    return { status: 'ok' };
  }

  @Get('health/live')
  @Public()
  @HealthCheck()
  live() {
    return this.health.check([async (): Promise<HealthIndicatorResult> => ({ process: { status: 'up' } })]);
  }

  @Get('health/ready')
  @Public()
  @HealthCheck()
  ready() {
    return this.health.check([
      async (): Promise<HealthIndicatorResult> => {
        await this.infrastructure.pool.query('SELECT 1');
        return { database: { status: 'up' } };
      },
      async (): Promise<HealthIndicatorResult> => {
        await this.infrastructure.eventStore.headPosition();
        return { event_store: { status: 'up' } };
      },
      async (): Promise<HealthIndicatorResult> => {
        // Thrown as a 503 of our own so the body names the consumers (terminus's would not).
        const failing = this.workers.failing();
        if (failing.length > 0) {
          throw new ServiceUnavailableException({ code: 'consumers_failing', message: `Log consumers stopped: ${failing.join(', ')}.` });
        }
        const stalled = await this.workers.stalled();
        if (stalled.length > 0) {
          const message = `Log consumers active but behind, with no progress for over ${this.infrastructure.config.consumerStallMs} ms: ${stalled.join(', ')}.`;
          throw new ServiceUnavailableException({ code: 'consumers_stalled', message });
        }
        return { subscriptions: { status: 'up', consumers: this.workers.summary() } as never };
      },
    ]);
  }

  @Get('metrics')
  @Public()
  @ApiOperation({ summary: 'Prometheus metrics' })
  async metrics(@Res({ passthrough: true }) response: HttpResponse): Promise<string> {
    await refreshProcessMetrics();
    const { contentType, body } = await metricsExposition();
    response.header('Content-Type', contentType);
    return body;
  }

  @Get('auth/me')
  @RequireScope('read')
  @ApiOkResponse({ type: MeResponse })
  me(@CurrentPrincipal() principal: Principal): MeResponse {
    return { user_id: `apikey:${principal.keyId}`, organization_id: principal.organizationId, organization_name: principal.organizationId };
  }
}
