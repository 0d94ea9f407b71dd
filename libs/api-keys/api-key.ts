import { Decider, assertNever } from '../domain/decider';
import { conflict, notFound } from '../domain/domain-error';

export const API_KEY_SCOPES = ['publish', 'install', 'read', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export const apiKeyStream = (keyId: string) => `apikey-${keyId}`;

export type ApiKeyCreated = {
  type: 'ApiKeyCreated';
  data: {
    key_id: string;
    org: string;
    scopes: ApiKeyScope[];
    platform_admin: boolean;
    /** SHA-256 of the secret part; the secret itself is shown once and never stored. */
    secret_hash: string;
    label: string | null;
    created_by: string;
    at: string;
  };
};
export type ApiKeyRevoked = { type: 'ApiKeyRevoked'; data: { key_id: string; at: string } };
export type ApiKeyEvent = ApiKeyCreated | ApiKeyRevoked;

export type CreateApiKey = { type: 'CreateApiKey' } & Omit<ApiKeyCreated['data'], 'at'> & { now: string };
export type RevokeApiKey = { type: 'RevokeApiKey'; keyId: string; now: string };
export type ApiKeyCommand = CreateApiKey | RevokeApiKey;

export type ApiKeyState = { status: 'none' } | { status: 'active' | 'revoked'; keyId: string; org: string };

export const apiKeyDecider: Decider<ApiKeyCommand, ApiKeyState, ApiKeyEvent> = {
  initialState: { status: 'none' },
  decide(command, state) {
    switch (command.type) {
      case 'CreateApiKey': {
        if (state.status !== 'none') throw conflict('api_key_exists', `API key ${command.key_id} already exists.`);
        const { type: _type, now, ...data } = command;
        return [{ type: 'ApiKeyCreated', data: { ...data, at: now } }];
      }
      case 'RevokeApiKey':
        if (state.status === 'none') throw notFound('api_key_not_found', `No API key ${command.keyId}.`);
        if (state.status === 'revoked') return [];
        return [{ type: 'ApiKeyRevoked', data: { key_id: command.keyId, at: command.now } }];
      default:
        return assertNever(command);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'ApiKeyCreated':
        return { status: 'active', keyId: event.data.key_id, org: event.data.org };
      case 'ApiKeyRevoked':
        return state.status === 'none' ? state : { ...state, status: 'revoked' };
      default:
        return state;
    }
  },
};
