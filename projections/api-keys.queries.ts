import { Inject } from '@nestjs/common';
import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { INFRASTRUCTURE } from '../libs/application/infrastructure-token';
import { Infrastructure } from '../libs/infrastructure/infrastructure';
import { apiKeysProjection } from './api-keys.projection';

const API_KEYS = apiKeysProjection.table.name;

/** An API key as operators see it: never the secret's hash. */
export interface ApiKeyListing {
  key_id: string;
  org: string;
  scopes: string[];
  platform_admin: boolean;
  label: string | null;
  created_by: string;
  created_at: Date;
  revoked_at: Date | null;
}

export class ListApiKeysQuery extends Query<ApiKeyListing[]> {
  constructor(readonly org: string | undefined) {
    super();
  }
}

/** One key as the read model has it (undefined until projected): what the auth guard will see. */
export class GetApiKeyQuery extends Query<ApiKeyListing | undefined> {
  constructor(readonly keyId: string) {
    super();
  }
}

const COLUMNS = 'key_id, org, scopes, platform_admin, label, created_by, created_at, revoked_at';

@QueryHandler(ListApiKeysQuery)
export class ListApiKeysHandler implements IQueryHandler<ListApiKeysQuery, ApiKeyListing[]> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'pool'>) {}

  async execute({ org }: ListApiKeysQuery): Promise<ApiKeyListing[]> {
    const { rows } = await this.infrastructure.pool.query<ApiKeyListing>(
      `SELECT ${COLUMNS} FROM ${API_KEYS} WHERE ($1::text IS NULL OR org = $1) ORDER BY org, created_at, key_id`,
      [org ?? null],
    );
    return rows;
  }
}

@QueryHandler(GetApiKeyQuery)
export class GetApiKeyHandler implements IQueryHandler<GetApiKeyQuery, ApiKeyListing | undefined> {
  constructor(@Inject(INFRASTRUCTURE) private readonly infrastructure: Pick<Infrastructure, 'pool'>) {}

  async execute({ keyId }: GetApiKeyQuery): Promise<ApiKeyListing | undefined> {
    const { rows } = await this.infrastructure.pool.query<ApiKeyListing>(`SELECT ${COLUMNS} FROM ${API_KEYS} WHERE key_id = $1`, [keyId]);
    return rows[0];
  }
}
