import type { OpenAPIObject } from '@nestjs/swagger';

const EXTRAS_IGNORED = 'Fields not listed here are ignored (dropped before validation), as the platform’s own models do.';

type SchemaObject = { $ref?: string; additionalProperties?: unknown; description?: string; properties?: Record<string, SchemaObject>; allOf?: SchemaObject[] };

/**
 * Every request body's schema (and the object schemas it nests) says what the validation pipe
 * does: unknown fields are dropped, not refused, so a client that adds one keeps working.
 */
export function documentIgnoredRequestFields(document: OpenAPIObject): void {
  const schemas = (document.components?.schemas ?? {}) as Record<string, SchemaObject>;
  const marked = new Set<string>();
  const mark = (schema: SchemaObject | undefined): void => {
    const name = schema?.$ref?.split('/').pop();
    if (name && schemas[name] && !marked.has(name)) {
      marked.add(name);
      const target = schemas[name];
      target.additionalProperties = true;
      target.description = target.description ? `${target.description} ${EXTRAS_IGNORED}` : EXTRAS_IGNORED;
      for (const property of Object.values(target.properties ?? {})) {
        mark(property);
        for (const part of property.allOf ?? []) mark(part);
      }
    }
  };
  for (const path of Object.values(document.paths)) {
    for (const operation of Object.values(path)) {
      const body = (operation as { requestBody?: { content?: Record<string, { schema?: SchemaObject }> } })?.requestBody;
      for (const media of Object.values(body?.content ?? {})) mark(media.schema);
    }
  }
}
