import { OmitType } from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { UploadToPublish } from '../../../libs/providers/publish-upload.handler';
import { DomainError } from '../../../libs/domain/domain-error';
import { RequestValidationError, flattenValidationErrors } from '../platform/request-errors';
import { MAX_BODY_DEPTH, findUnstorable, jsonDepth } from '../platform/storable-text';
import { PublishVersionDto, versionToPublish } from './publish-version.dto';

/**
 * The `metadata` form field of `POST /providers/publish`, as the platform's SDK sends it
 * (`{ name, version, schemas, metadata, changelog }`): a URL publish's body without the URL and digest,
 * which the upload itself provides.
 */
export class UploadMetadataDto extends OmitType(PublishVersionDto, ['wheel_url', 'sha256'] as const) {}

/** Parses and validates the `metadata` field with the rules the JSON routes apply (400 / 422). */
export function uploadMetadataFrom(raw: string): UploadToPublish {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new DomainError('invalid', 'malformed_metadata', 'The metadata field is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DomainError('invalid', 'malformed_metadata', 'The metadata field must be a JSON object.');
  }
  if (jsonDepth(parsed, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
    throw new DomainError('invalid', 'body_too_deep', `The metadata nests objects or arrays deeper than ${MAX_BODY_DEPTH} levels.`);
  }
  const unstorable = findUnstorable(parsed, 'metadata');
  if (unstorable !== undefined) {
    const message = `${unstorable} contains a NUL character or an unpaired surrogate, which cannot be stored`;
    throw new RequestValidationError([{ field: unstorable, constraint: 'storableText', message, value_type: 'string' }]);
  }
  const dto = plainToInstance(UploadMetadataDto, parsed);
  const errors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length > 0) throw new RequestValidationError(flattenValidationErrors(errors));
  const { wheelUrl: _url, wheelSha256: _sha, ...version } = versionToPublish({ ...dto, wheel_url: '' });
  return version;
}
