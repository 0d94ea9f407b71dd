import { Controller, HttpCode, HttpException, Inject, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HttpRequest, HttpResponse, rawRequestOf } from '../platform/http-types';
import { isArtifactTooLarge } from '../../../libs/artifacts/artifact-store.port';
import { Infrastructure } from '../../../libs/infrastructure/infrastructure';
import { PublishUploadCommand } from '../../../libs/providers/publish-upload.handler';
import { VersionOutcome } from '../../../libs/providers/version-selection';
import { RequireScope } from '../auth/auth.decorators';
import { CurrentPrincipal, Principal } from '../auth/principal';
import { setCommandHeaders } from '../platform/command-response';
import { ErrorBody } from '../platform/error-body';
import { commandContext } from '../platform/request-context';
import { INFRASTRUCTURE } from '../platform/tokens';
import { readMultipartUpload } from './multipart-upload';
import { uploadMetadataFrom } from './publish-upload.dto';
import { ProviderVersionResponse, versionFromState } from './provider-version.response';

/**
 * `POST /providers/publish`: the platform SDK's upload. Auth and scope are checked by the guard before
 * a byte of the body is read; the prefix and the version's existence before the file is stored.
 */
@ApiTags('publishing')
@ApiBearerAuth()
@ApiResponse({ status: 401, type: ErrorBody, description: 'Missing or invalid API key' })
@Controller('providers')
export class PublishUploadController {
  constructor(
    private readonly commands: CommandBus,
    @Inject(INFRASTRUCTURE) private readonly infrastructure: Infrastructure,
  ) {}

  @Post('publish')
  @RequireScope('publish')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Publish a version by uploading its wheel',
    description:
      'multipart/form-data: field `metadata` (JSON `{ name, version, schemas, metadata, changelog }`) first, then file `wheel`. The wheel is stored (capped at UPLOAD_MAX_BYTES) before the version exists; the version is `building` until validation makes it `published` or `failed`.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: { type: 'object', required: ['metadata', 'wheel'], properties: { metadata: { type: 'string' }, wheel: { type: 'string', format: 'binary' } } } })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '1–200 characters' })
  @ApiResponse({ status: 201, type: ProviderVersionResponse })
  @ApiResponse({ status: 403, type: ErrorBody, description: 'prefix_not_owned, platform_admin_required, missing_scope' })
  @ApiResponse({ status: 409, type: ErrorBody, description: 'version_exists, concurrent_modification' })
  @ApiResponse({ status: 413, type: ErrorBody, description: 'payload_too_large (nothing stored)' })
  @ApiResponse({ status: 422, type: ErrorBody, description: 'validation_failed, malformed_metadata, metadata_first, wheel_missing, multipart_required' })
  async publish(@CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse) {
    const context = commandContext(request, principal);
    let published: { outcome: VersionOutcome; provider: PublishUploadCommand['version']['provider'] };
    try {
      published = await readMultipartUpload(rawRequestOf(request), {
        fieldName: 'metadata',
        fileField: 'wheel',
        maxFieldBytes: this.infrastructure.config.bodyLimitBytes,
        acceptField: uploadMetadataFrom,
        acceptFile: async (version, wheel) => ({
          outcome: await this.commands.execute(new PublishUploadCommand(version, wheel, principal, context)),
          provider: version.provider,
        }),
      });
    } catch (error) {
      if (isArtifactTooLarge(error)) {
        throw new HttpException({ code: 'payload_too_large', message: `The wheel is larger than the upload limit of ${error.maxBytes} bytes; nothing was stored.` }, 413);
      }
      throw error;
    }
    setCommandHeaders(response, published.outcome.outcome);
    return versionFromState(published.provider, published.outcome.version);
  }
}
