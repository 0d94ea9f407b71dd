import { ErrorBody, errorBody } from './error-body';

/**
 * PostgreSQL cannot store U+0000 in `text` or `jsonb`, nor an unpaired UTF-16 surrogate in `jsonb`:
 * a request carrying one anywhere (a body string or key, a query value, a path segment) would fail
 * at the database with a 500. It is refused up front as a 422 naming the field, before anything runs.
 *
 * A body nested deeper than MAX_BODY_DEPTH is refused first (400 `body_too_deep`): validation and
 * the code after it recurse over the body, and nothing in the contract is nested that deep. Both
 * checks walk the parsed value with an explicit stack, so no nesting can overflow the call stack.
 */
// NUL is matched on purpose: PostgreSQL cannot store it in text or jsonb.
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const MAX_BODY_DEPTH = 64;

/** A value still to examine, with how it was reached: its path is spelled only if it is the culprit. */
interface Pending {
  value: unknown;
  segment: string;
  parent?: Pending;
}

const MAX_FIELD_LENGTH = 200;

function pathOf(pending: Pending, rootField: string): string {
  const segments: string[] = [];
  for (let at: Pending | undefined = pending; at?.parent; at = at.parent) segments.push(at.segment);
  let path = rootField;
  for (let i = segments.length - 1; i >= 0 && path.length <= MAX_FIELD_LENGTH; i--) {
    const segment = segments[i];
    path = segment.startsWith('[') || path === '' ? `${path}${segment}` : `${path}.${segment}`;
  }
  return path.slice(0, MAX_FIELD_LENGTH);
}

/** Depth of the deepest container: a scalar is 0, `{}` or `[]` is 1, `[[1]]` is 2. */
export function jsonDepth(root: unknown, limit = Number.POSITIVE_INFINITY): number {
  let deepest = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value: root, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: unknown; depth: number };
    if (value === null || typeof value !== 'object') continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push({ value: child, depth: here });
  }
  return deepest;
}

/** The path of the first string or key (depth-first, in document order) that cannot be stored. */
export function findUnstorable(root: unknown, rootField: string): string | undefined {
  const stack: Pending[] = [{ value: root, segment: '' }];
  while (stack.length > 0) {
    const pending = stack.pop() as Pending;
    const { value } = pending;
    if (typeof value === 'string') {
      if (UNSTORABLE.test(value)) return pathOf(pending, rootField);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const children: Pending[] = [];
    if (Array.isArray(value)) {
      value.forEach((child, i) => children.push({ value: child, segment: `[${i}]`, parent: pending }));
    } else {
      for (const [key, child] of Object.entries(value)) {
        const entry: Pending = { value: child, segment: key, parent: pending };
        if (UNSTORABLE.test(key)) return pathOf(entry, rootField);
        children.push(entry);
      }
    }
    // Pushed in reverse so that the first child is examined first.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return undefined;
}

function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return ''; // malformed escapes are the router's to refuse (400)
  }
}

/** A request's refusal (status and error body) when it nests too deep or carries unstorable text. */
export function unstorableTextRefusal(path: string, query: unknown, body: unknown): { status: number; body: ErrorBody } | undefined {
  if (jsonDepth(body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH || jsonDepth(query, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
    return { status: 400, body: errorBody('body_too_deep', `The request nests objects or arrays deeper than ${MAX_BODY_DEPTH} levels.`) };
  }
  const field = UNSTORABLE.test(decodedPath(path)) ? 'path' : (findUnstorable(query, 'query') ?? findUnstorable(body, ''));
  if (field === undefined) return undefined;
  const name = field || 'body';
  const message = `${name} contains a NUL character or an unpaired surrogate, which cannot be stored`;
  return {
    status: 422,
    body: errorBody('validation_failed', `The request is invalid: ${message}.`, [{ field: name, constraint: 'storableText', message, value_type: 'string' }]),
  };
}
