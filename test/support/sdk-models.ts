/**
 * The platform SDK's response models as field → type checks, so an e2e test can say "this parses as
 * the SDK's model" without Python. A field is `required` when the SDK's model has no default for it
 * (its absence fails to parse); `nullable` when the model allows None. Sources: docs/API.md (Provider,
 * DeploymentResult, Organization), docs/platform/create-wheel-provider-version.txt (ProviderVersion),
 * docs/platform/install-provider.txt (InstalledProvider, plus `upgrade_available` from API.md).
 */

type Check = (value: unknown) => boolean;

interface FieldSpec {
  check: Check;
  /** What the check accepts, for the failure message. */
  type: string;
  required: boolean;
  nullable: boolean;
}

export type SdkModel = { name: string; fields: Readonly<Record<string, FieldSpec>> };

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

const string: Check = (v) => typeof v === 'string';
const nonEmptyString: Check = (v) => typeof v === 'string' && v.length > 0;
const int: Check = (v) => typeof v === 'number' && Number.isInteger(v);
const bool: Check = (v) => typeof v === 'boolean';
const dateTime: Check = (v) => typeof v === 'string' && RFC3339.test(v) && !Number.isNaN(Date.parse(v));
const stringList: Check = (v) => Array.isArray(v) && v.every((e) => typeof e === 'string');
const objectList: Check = (v) => Array.isArray(v) && v.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e));
const stringMap: Check = (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((e) => typeof e === 'string');
const oneOf = (...values: string[]): Check => (v) => typeof v === 'string' && values.includes(v);

function field(type: string, check: Check, options: { required?: boolean; nullable?: boolean } = {}): FieldSpec {
  return { type, check, required: options.required ?? true, nullable: options.nullable ?? false };
}
/** Required and never null: what the SDK's models declare as a plain `str`, `int`, …. */
const req = (type: string, check: Check) => field(type, check);
/** `X | None = None`: may be absent or null; when present and not null, of the type. */
const opt = (type: string, check: Check) => field(type, check, { required: false, nullable: true });
/** `X | None` without a default: must be present, may be null. */
const nullable = (type: string, check: Check) => field(type, check, { nullable: true });

const PROVIDER_AUTHOR: SdkModel = {
  name: 'ProviderAuthor',
  fields: {
    kind: req('customer|platform', oneOf('customer', 'platform')),
    organization_id: req('string', nonEmptyString),
    display_name: req('string', string),
  },
};

export const PROVIDER: SdkModel = {
  name: 'Provider',
  fields: {
    prefix: req('string', nonEmptyString),
    name: req('string', nonEmptyString),
    canonical: req('string', nonEmptyString),
    // The SDK's Provider requires both as strings (issue 16 §2): never null, even without metadata.
    display_name: req('string', string),
    description: req('string', string),
    author: req('ProviderAuthor', (v) => problemsOf(v, PROVIDER_AUTHOR).length === 0),
    scope: field('public|tenant', oneOf('public', 'tenant'), { required: false }),
    icon_url: opt('string', string),
    readme: opt('string', string),
    tags: req('string[]', stringList),
    latest_version: opt('string', string),
    install_count: req('int', int),
    created_at: req('date-time', dateTime),
    updated_at: req('date-time', dateTime),
  },
};

export const PROVIDER_VERSION: SdkModel = {
  name: 'ProviderVersion',
  fields: {
    prefix: req('string', nonEmptyString),
    name: req('string', nonEmptyString),
    version: req('string', nonEmptyString),
    runtime_version: req('string', nonEmptyString),
    canonical: req('string', nonEmptyString),
    created_at: field('date-time', dateTime, { required: false }),
    updated_at: field('date-time', dateTime, { required: false }),
    wheel_url: opt('string', string),
    wheel_sha256: opt('sha256 hex', (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)),
    package_name: opt('string (1–200)', (v) => typeof v === 'string' && v.length >= 1 && v.length <= 200),
    entrypoint: opt('string[]', stringList),
    source_hash: opt('string', string),
    build_id: opt('string', string),
    schemas: opt('object[]', objectList),
    changelog: opt('string', string),
    status: field('building|published|failed|yanked', oneOf('building', 'published', 'failed', 'yanked'), { required: false }),
    published_at: opt('date-time', dateTime),
    error_message: opt('string', string),
  },
};

export const INSTALLED_PROVIDER: SdkModel = {
  name: 'InstalledProvider',
  fields: {
    prefix: req('string', nonEmptyString),
    name: req('string', nonEmptyString),
    canonical: req('string', nonEmptyString),
    installed_version: req('string', nonEmptyString),
    current_version: opt('string', string),
    upgrade_policy: req('auto|manual', oneOf('auto', 'manual')),
    resource_tier: req('free|standard|performance', oneOf('free', 'standard', 'performance')),
    config: opt('{string: string}', stringMap),
    installed_at: req('date-time', dateTime),
    created_at: req('date-time', dateTime),
    updated_at: req('date-time', dateTime),
    lifecycle_state: req('pending|processing|ready|failed|deleting', oneOf('pending', 'processing', 'ready', 'failed', 'deleting')),
    health: req('healthy|degraded', oneOf('healthy', 'degraded')),
    health_message: opt('string', string),
    // API.md: carried by every InstalledProvider, null when no newer version is published.
    upgrade_available: nullable('string', string),
  },
};

export const DEPLOYMENT_RESULT: SdkModel = {
  name: 'DeploymentResult',
  fields: {
    deployment_name: req('string', nonEmptyString),
    status: req('pending|progressing|available|failed', oneOf('pending', 'progressing', 'available', 'failed')),
    available_replicas: field('int', int, { required: false }),
    ready_replicas: field('int', int, { required: false }),
    version: opt('string', string),
    image: opt('string', string),
    updated_at: opt('date-time', dateTime),
    message: opt('string', string),
    generation: req('int', int),
    healthy: req('bool', bool),
  },
};

export const ORGANIZATION: SdkModel = {
  name: 'Organization',
  fields: {
    id: req('string', nonEmptyString),
    // Newer SDKs read the id under this name, with a status beside it.
    organization_id: req('string', nonEmptyString),
    slug: req('string', nonEmptyString),
    name: req('string', nonEmptyString),
    status: req('active|deactivating|deleted', oneOf('active', 'deactivating', 'deleted')),
    created_at: req('date-time', dateTime),
    updated_at: req('date-time', dateTime),
  },
};

/** Every way `value` fails to parse as `model`; empty when it parses. Extra fields are allowed (pydantic ignores them). */
export function problemsOf(value: unknown, model: SdkModel): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${model.name}: not an object (${JSON.stringify(value)})`];
  const record = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(model.fields)) {
    if (!(name in record) || record[name] === undefined) {
      if (spec.required) problems.push(`${model.name}.${name}: missing (${spec.type} required)`);
      continue;
    }
    const v = record[name];
    if (v === null) {
      if (!spec.nullable) problems.push(`${model.name}.${name}: null, but the SDK requires ${spec.type}`);
      continue;
    }
    if (!spec.check(v)) problems.push(`${model.name}.${name}: ${JSON.stringify(v)} is not ${spec.type}`);
  }
  return problems;
}

/** Fails the test with every problem listed when `value` would not parse as `model`. */
export function expectSdkModel(value: unknown, model: SdkModel): void {
  const problems = problemsOf(value, model);
  if (problems.length > 0) throw new Error(`response does not parse as the SDK's ${model.name}:\n  ${problems.join('\n  ')}\n${JSON.stringify(value)}`);
}

/** A JSON array whose every element parses as `model`. */
export function expectSdkList(value: unknown, model: SdkModel): void {
  if (!Array.isArray(value)) throw new Error(`expected a JSON array of ${model.name}, got ${JSON.stringify(value)?.slice(0, 300)}`);
  value.forEach((item) => expectSdkModel(item, model));
}
