import { Controller, Get, Headers, Inject, Param, Res, StreamableFile } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiHeader, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { HttpResponse } from '../platform/http-types';
import { ARTIFACTS_ROUTE } from '../../../libs/artifacts/artifact-url';
import { GetArtifactQuery } from '../../../libs/artifacts/get-artifact.query';
import { EventStore } from '../../../libs/event-store/event-store.port';
import { ApiKeyDirectory } from '../auth/api-key-directory';
import { Public } from '../auth/auth.decorators';
import { ErrorBody } from '../platform/error-body';
import { EVENT_STORE } from '../platform/tokens';
import { GENERATION_HEADER, INSTALLATION_HEADER, requesterOf } from './artifact-requester';

@ApiTags('artifacts')
// Authenticated in `requesterOf`: API keys and runtimes' registration tokens both reach this route.
@Public()
@Controller(ARTIFACTS_ROUTE)
export class ArtifactsController {
  private readonly directory: ApiKeyDirectory;

  constructor(
    private readonly queries: QueryBus,
    @Inject(EVENT_STORE) store: EventStore,
  ) {
    this.directory = new ApiKeyDirectory(store);
  }

  @Get(':sha256')
  @ApiOperation({
    summary: 'Download a stored wheel by its sha256',
    description:
      'For a platform admin, a key of an organisation that published a version referencing it, or a runtime (registration token with X-Installation-Id and X-Generation) whose installation deploys such a version. Anything else is a 404, as for an unknown digest.',
  })
  @ApiHeader({ name: 'Authorization', required: true, description: 'Bearer <API key or registration token>' })
  @ApiHeader({ name: 'X-Installation-Id', required: false, description: 'A runtime: its installation id' })
  @ApiHeader({ name: 'X-Generation', required: false, description: 'A runtime: its deploy generation' })
  @ApiProduces('application/octet-stream')
  @ApiResponse({ status: 200, description: 'The bytes; ETag is the quoted sha256' })
  @ApiResponse({ status: 401, type: ErrorBody })
  @ApiResponse({ status: 404, type: ErrorBody })
  async download(
    @Param('sha256') sha256: string,
    @Headers('authorization') authorization: string | undefined,
    @Headers(INSTALLATION_HEADER) installationId: string | undefined,
    @Headers(GENERATION_HEADER) generation: string | undefined,
    @Res({ passthrough: true }) response: HttpResponse,
  ): Promise<StreamableFile> {
    const requester = await requesterOf(this.directory, { authorization, installationId, generation });
    const artifact = await this.queries.execute(new GetArtifactQuery(sha256, requester));
    // Content-addressed: the bytes under a digest never change, so caches may keep them for good.
    response.header('ETag', `"${artifact.sha256}"`);
    response.header('Cache-Control', 'private, max-age=31536000, immutable');
    return new StreamableFile(artifact.stream(), { type: 'application/octet-stream', length: artifact.size });
  }
}
