/**
 * Nest's injection token for the process's `Infrastructure`. Handlers take it as their one
 * constructor argument, so the CLI can construct them without Nest (`new Handler(infrastructure)`).
 */
export const INFRASTRUCTURE = Symbol('Infrastructure');
