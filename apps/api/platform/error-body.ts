import { ApiProperty } from '@nestjs/swagger';

export class ErrorDetail {
  @ApiProperty({ example: 'version' }) field!: string;
  @ApiProperty({ example: 'isSemVer' }) constraint!: string;
  @ApiProperty({ example: 'version must be a valid semantic version' }) message!: string;
  @ApiProperty({ example: 'string', description: 'JSON type of the value that was sent' }) value_type!: string;
}

/** Every error response, whatever the status. */
export class ErrorBody {
  @ApiProperty({ example: 'version_exists', description: 'Stable snake_case code' }) code!: string;
  @ApiProperty({ example: 'acme/postgres 1.0.0 already exists.' }) message!: string;
  @ApiProperty({ type: [ErrorDetail] }) details!: ErrorDetail[];
}

export function errorBody(code: string, message: string, details: ReadonlyArray<Record<string, unknown>> = []): ErrorBody {
  return { code, message, details: details.map(detailOf) };
}

/** A domain error's detail in the documented shape: every field a string, nothing else carried. */
function detailOf(detail: Record<string, unknown>): ErrorDetail {
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  return { field: text(detail.field), constraint: text(detail.constraint), message: text(detail.message), value_type: text(detail.value_type) };
}
