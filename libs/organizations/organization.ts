import { Decider, assertNever } from '../domain/decider';
import { DomainError, conflict, notFound } from '../domain/domain-error';
import { TOKEN_PATTERN } from '../providers/provider-identity';

/**
 * A tenant organisation. Its id is the token keys, installations and provider prefixes already carry,
 * so the slug (what the platform's SDK reads as the prefix) is the id itself.
 */
export const organizationStream = (id: string) => `organization-${id}`;

export const ORGANIZATION_NAME_MAX = 200;

export type OrganizationCreated = { type: 'OrganizationCreated'; data: { id: string; slug: string; name: string; at: string } };
export type OrganizationRenamed = { type: 'OrganizationRenamed'; data: { id: string; name: string; at: string } };
export type OrganizationEvent = OrganizationCreated | OrganizationRenamed;
export const ORGANIZATION_EVENT_TYPES: readonly OrganizationEvent['type'][] = ['OrganizationCreated', 'OrganizationRenamed'];

/**
 * `ifAbsent`: creating an organisation that exists is not an error but a no-op (a key created for an
 * organisation nobody declared yet declares it first). `name` null means "the id".
 */
export type CreateOrganization = { type: 'CreateOrganization'; id: string; name: string | null; ifAbsent: boolean; now: string };
export type RenameOrganization = { type: 'RenameOrganization'; id: string; name: string; now: string };
export type OrganizationCommand = CreateOrganization | RenameOrganization;

export type OrganizationState = { status: 'none' } | { status: 'active'; id: string; name: string; createdAt: string; updatedAt: string };

export function assertOrganizationId(id: string): void {
  if (!TOKEN_PATTERN.test(id)) {
    throw new DomainError('invalid', 'invalid_organization_id', `"${id}" is not an organisation id: use lower-case letters, digits and dashes (^[a-z0-9][a-z0-9-]{0,62}$).`, [
      { field: 'id', constraint: 'organizationId', message: 'must match ^[a-z0-9][a-z0-9-]{0,62}$', value_type: typeof id },
    ]);
  }
}

/** A name people read: 1–200 characters, no control characters, not only spaces. */
export function assertOrganizationName(name: string): void {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (name.trim().length === 0 || name.length > ORGANIZATION_NAME_MAX || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new DomainError('invalid', 'invalid_organization_name', `An organisation name is 1 to ${ORGANIZATION_NAME_MAX} printable characters.`, [
      { field: 'name', constraint: 'organizationName', message: `1 to ${ORGANIZATION_NAME_MAX} printable characters`, value_type: typeof name },
    ]);
  }
}

export const organizationDecider: Decider<OrganizationCommand, OrganizationState, OrganizationEvent> = {
  initialState: { status: 'none' },
  decide(command, state) {
    assertOrganizationId(command.id);
    if (command.name !== null) assertOrganizationName(command.name);
    switch (command.type) {
      case 'CreateOrganization': {
        if (state.status !== 'none') {
          if (command.ifAbsent) return [];
          throw conflict('organization_exists', `Organisation ${command.id} already exists.`);
        }
        return [{ type: 'OrganizationCreated', data: { id: command.id, slug: command.id, name: command.name ?? command.id, at: command.now } }];
      }
      case 'RenameOrganization':
        if (state.status === 'none') throw notFound('organization_not_found', `No organisation ${command.id}.`);
        if (state.name === command.name) return [];
        return [{ type: 'OrganizationRenamed', data: { id: command.id, name: command.name, at: command.now } }];
      default:
        return assertNever(command);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'OrganizationCreated':
        return { status: 'active', id: event.data.id, name: event.data.name, createdAt: event.data.at, updatedAt: event.data.at };
      case 'OrganizationRenamed':
        return state.status === 'none' ? state : { ...state, name: event.data.name, updatedAt: event.data.at };
      default:
        return state;
    }
  },
};
