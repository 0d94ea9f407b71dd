import { Body, Controller, Headers, HttpCode, Post } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/auth.decorators';
import { ErrorBody } from '../platform/error-body';
import { HeartbeatDto, RegistrationDto } from './runtime.dto';
import { RecordRegistrationCommand } from '../../../libs/installations/record-registration.handler';
import { ReportHeartbeatCommand } from '../../../libs/installations/report-heartbeat.handler';

const TOKEN_HEADER = { name: 'Authorization', required: true, description: 'Bearer <PROVIDER_STORE_REGISTRATION_TOKEN>' };

@ApiTags('runtime')
@Public()
@Controller('runtime')
export class RuntimeController {
  constructor(private readonly commands: CommandBus) {}

  @Post('registrations')
  @HttpCode(204)
  @ApiOperation({ summary: 'A deployed runtime checks in: the installation becomes READY with current_version set', description: 'An old generation is acknowledged and changes nothing.' })
  @ApiHeader(TOKEN_HEADER)
  @ApiResponse({ status: 204 })
  @ApiResponse({ status: 401, type: ErrorBody })
  async register(@Body() body: RegistrationDto, @Headers('authorization') authorization?: string): Promise<void> {
    const credentials = { installationId: body.installation_id, generation: body.generation, token: bearer(authorization) };
    const wheel = body.wheel_name !== undefined && body.wheel_version !== undefined ? { name: body.wheel_name, version: body.wheel_version } : undefined;
    await this.commands.execute(new RecordRegistrationCommand(credentials, body.version, body.endpoint ?? null, wheel));
  }

  @Post('heartbeats')
  @HttpCode(204)
  @ApiOperation({ summary: 'Liveness report; only a health transition becomes an event' })
  @ApiHeader(TOKEN_HEADER)
  @ApiResponse({ status: 204 })
  @ApiResponse({ status: 401, type: ErrorBody })
  async heartbeat(@Body() body: HeartbeatDto, @Headers('authorization') authorization?: string): Promise<void> {
    const credentials = { installationId: body.installation_id, generation: body.generation, token: bearer(authorization) };
    await this.commands.execute(new ReportHeartbeatCommand(credentials, body.status, body.message ?? null));
  }
}

function bearer(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}
