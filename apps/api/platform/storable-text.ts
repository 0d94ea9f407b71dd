import type { NextFunction, Request, Response } from 'express';
import { errorBody } from './error-body';

/**
 * PostgreSQL cannot store U+0000 in `text` or `jsonb`, nor an unpaired UTF-16 surrogate in `jsonb`:
 * a request carrying one anywhere (a body string or key, a query value, a path segment) would fail
 * at the database with a 500. It is refused up front as a 422 naming the field, before anything runs.
 */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const MAX_DEPTH = 64;

function findUnstorable(value: unknown, field: string, depth = 0): string | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? field : undefined;
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i], `${field}[${i}]`, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, child] of Object.entries(value)) {
    const path = field ? `${field}.${key}` : key;
    if (UNSTORABLE.test(key)) return path;
    const found = findUnstorable(child, path, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function decodedPath(request: Request): string {
  try {
    return decodeURIComponent(request.path);
  } catch {
    return ''; // malformed escapes are the router's to refuse (400)
  }
}

export function rejectUnstorableText(request: Request, response: Response, next: NextFunction): void {
  const field = UNSTORABLE.test(decodedPath(request))
    ? 'path'
    : (findUnstorable(request.query, 'query') ?? findUnstorable(request.body, ''));
  if (field === undefined) return next();
  const name = (field || 'body').slice(0, 200);
  const message = `${name} contains a NUL character or an unpaired surrogate, which cannot be stored`;
  response
    .status(422)
    .json(errorBody('validation_failed', `The request is invalid: ${message}.`, [{ field: name, constraint: 'storableText', message, value_type: 'string' }]));
}
