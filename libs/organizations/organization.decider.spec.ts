import { given } from '../domain/given-when-then';
import { OrganizationCreated, OrganizationRenamed, organizationDecider } from './organization';

const T1 = '2024-01-01T10:00:00.000Z';
const T2 = '2024-01-02T10:00:00.000Z';

const created = (name = 'Acme Corp'): OrganizationCreated => ({ type: 'OrganizationCreated', data: { id: 'acme', slug: 'acme', name, at: T1 } });
const renamed = (name: string): OrganizationRenamed => ({ type: 'OrganizationRenamed', data: { id: 'acme', name, at: T2 } });

describe('organisation decider', () => {
  it('creates an organisation whose slug is its id', () => {
    given(organizationDecider).when({ type: 'CreateOrganization', id: 'acme', name: 'Acme Corp', ifAbsent: false, now: T1 }).then([created()]);
  });

  it('names it after its id when no name is given', () => {
    given(organizationDecider)
      .when({ type: 'CreateOrganization', id: 'acme', name: null, ifAbsent: true, now: T1 })
      .then([{ type: 'OrganizationCreated', data: { id: 'acme', slug: 'acme', name: 'acme', at: T1 } }]);
  });

  it('refuses to create it twice, unless asked only to make sure it exists', () => {
    given(organizationDecider, [created()]).when({ type: 'CreateOrganization', id: 'acme', name: 'Other', ifAbsent: false, now: T2 }).thenFails('organization_exists');
    given(organizationDecider, [created()]).when({ type: 'CreateOrganization', id: 'acme', name: null, ifAbsent: true, now: T2 }).thenNothingHappens();
  });

  it('refuses an id that could not be a prefix and a name nobody can read', () => {
    given(organizationDecider).when({ type: 'CreateOrganization', id: 'Acme', name: null, ifAbsent: false, now: T1 }).thenFails('invalid_organization_id');
    given(organizationDecider).when({ type: 'CreateOrganization', id: 'acme/x', name: null, ifAbsent: false, now: T1 }).thenFails('invalid_organization_id');
    given(organizationDecider).when({ type: 'CreateOrganization', id: 'acme', name: '   ', ifAbsent: false, now: T1 }).thenFails('invalid_organization_name');
    given(organizationDecider).when({ type: 'CreateOrganization', id: 'acme', name: 'a\u0000b', ifAbsent: false, now: T1 }).thenFails('invalid_organization_name');
    given(organizationDecider).when({ type: 'CreateOrganization', id: 'acme', name: 'x'.repeat(201), ifAbsent: false, now: T1 }).thenFails('invalid_organization_name');
  });

  it('renames an existing organisation; the same name again changes nothing', () => {
    given(organizationDecider, [created()]).when({ type: 'RenameOrganization', id: 'acme', name: 'Acme Inc', now: T2 }).then([renamed('Acme Inc')]);
    given(organizationDecider, [created(), renamed('Acme Inc')]).when({ type: 'RenameOrganization', id: 'acme', name: 'Acme Inc', now: T2 }).thenNothingHappens();
    given(organizationDecider).when({ type: 'RenameOrganization', id: 'acme', name: 'Acme Inc', now: T2 }).thenFails('organization_not_found');
  });

  it('keeps the creation time and moves the update time on a rename', () => {
    const state = given(organizationDecider, [created()]).when({ type: 'RenameOrganization', id: 'acme', name: 'Acme Inc', now: T2 }).thenState();
    expect(state).toEqual({ status: 'active', id: 'acme', name: 'Acme Inc', createdAt: T1, updatedAt: T2 });
  });
});
