import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import type { RegExpEngine } from 'ajv/dist/types';
import addFormats from 'ajv-formats';
import { DomainError } from '../domain/domain-error';

/** Deeper schemas are refused at publish: a config is a flat map, nothing needs more. */
const MAX_SCHEMA_DEPTH = 32;
const MAX_REPORTED_VIOLATIONS = 50;
const CACHE_SIZE = 1000;

export interface ConfigViolation {
  /** JSON pointer into the config, e.g. `/API_URL`. */
  field: string;
  constraint: string;
  message: string;
}

/**
 * RE2 (re2-wasm) when installed: linear-time matching. RE2 needs the `u` flag; `code` is what
 * standalone validation code would import (unused here).
 */
function loadRe2(): RegExpEngine | undefined {
  try {
    // Optional at run time: without it, schemas with regular expressions are refused (below).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { RE2 } = require('re2-wasm') as typeof import('re2-wasm');
    return Object.assign((pattern: string, flags: string) => new RE2(pattern, flags.includes('u') ? flags : `${flags}u`), { code: 'require("re2-wasm").RE2' });
  } catch {
    return undefined;
  }
}
const re2Engine = loadRe2();

/** Whether the schema holds a regular expression (`pattern`, `patternProperties`) anywhere. */
function hasRegExp(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (!Array.isArray(value) && ('pattern' in value || 'patternProperties' in value)) return true;
  return Object.values(value).some(hasRegExp);
}

/**
 * One validator per schema, from an Ajv instance of its own, so one publisher's `$id`s can neither
 * clash with nor be `$ref`ed by another's. Strict (unknown keywords and formats are errors), no
 * `$data`, and every `pattern` runs on RE2, whose matching time is linear in the input: no pattern
 * can make the server backtrack for ever. Config values are environment strings, so types are
 * coerced (`"5"` satisfies `type: integer`) on a copy.
 */
function compile(schema: Readonly<Record<string, unknown>>): ValidateFunction {
  // A backtracking engine could be made to run for ever by one hostile pattern: no RE2, no patterns.
  if (!re2Engine && hasRegExp(schema)) throw new Error('pattern and patternProperties need the RE2 engine (package re2-wasm), which is not installed');
  const ajv = new Ajv({
    allErrors: true,
    strict: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    logger: false,
    coerceTypes: true,
    ...(re2Engine ? { code: { regExp: re2Engine } } : {}),
  });
  addFormats(ajv);
  // `format: password` marks a secret (libs/secrets); it constrains nothing.
  ajv.addFormat('password', true);
  return ajv.compile(schema);
}

function depthOf(value: unknown, limit: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  let deepest = 0;
  for (const child of Object.values(value)) {
    deepest = Math.max(deepest, 1 + depthOf(child, limit));
    if (deepest > limit) return deepest;
  }
  return deepest;
}

function schemaProblem(schema: Readonly<Record<string, unknown>>): string | undefined {
  if (depthOf(schema, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH) return `it nests deeper than ${MAX_SCHEMA_DEPTH} levels`;
  try {
    compile(schema);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** At publish: a `config_schema` must be a JSON Schema this platform can check config against. */
export function assertValidConfigSchema(schema: Readonly<Record<string, unknown>> | null | undefined): void {
  if (!schema) return;
  const problem = schemaProblem(schema);
  if (problem === undefined) return;
  throw new DomainError('invalid', 'invalid_config_schema', `config_schema is not a valid JSON Schema: ${problem.slice(0, 500)}.`, [
    { field: 'config_schema', constraint: 'jsonSchema', message: problem.slice(0, 500) },
  ]);
}

const escapePointer = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

function violationOf(error: ErrorObject): ConfigViolation {
  const params: Record<string, unknown> = error.params;
  const named = params.missingProperty ?? params.additionalProperty ?? params.propertyName;
  const field = typeof named === 'string' ? `${error.instancePath}/${escapePointer(named)}` : error.instancePath || '/';
  return { field, constraint: error.keyword, message: error.message ?? 'is invalid' };
}

/** Compiled validators by (provider, version): versions are immutable, so an entry never goes stale. */
export class ConfigSchemas {
  private readonly cache = new Map<string, ValidateFunction>();

  violations(cacheKey: string, schema: Readonly<Record<string, unknown>> | null, config: Readonly<Record<string, string>>): ConfigViolation[] {
    if (!schema) return [];
    const validate = this.validatorFor(cacheKey, schema);
    if (validate(structuredClone({ ...config }))) return [];
    return (validate.errors ?? []).slice(0, MAX_REPORTED_VIOLATIONS).map(violationOf);
  }

  private validatorFor(cacheKey: string, schema: Readonly<Record<string, unknown>>): ValidateFunction {
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    let validate: ValidateFunction;
    try {
      validate = compile(schema);
    } catch {
      // Published before schemas were checked: it constrains nothing rather than blocking the tenant.
      validate = compile({});
    }
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value ?? cacheKey);
    this.cache.set(cacheKey, validate);
    return validate;
  }
}

/** The config's top-level keys the violations name (the ones to change). */
export function keysNamed(violations: readonly ConfigViolation[]): string[] {
  return [...new Set(violations.map((v) => v.field.split('/')[1] ?? '').filter(Boolean))];
}

/** 422 `config_invalid`, each violation's JSON pointer in `details`; nothing is appended. */
export function configInvalid(violations: readonly ConfigViolation[], message: string): DomainError {
  return new DomainError('invalid', 'config_invalid', message, violations.map((v) => ({ field: v.field, constraint: v.constraint, message: v.message })));
}
