const SIZE = /^(\d+)(b|kb|mb|gb)?$/i;

/**
 * Reads typed settings from the environment and collects every problem instead of stopping at the
 * first, so one start-up failure names every bad variable. A bad value yields the fallback; the
 * caller throws once all settings have been read.
 */
export class EnvReader {
  readonly problems: string[] = [];

  constructor(readonly env: NodeJS.ProcessEnv) {}

  text(name: string, fallback: string): string {
    return this.env[name] || fallback;
  }

  optional(name: string): string | undefined {
    return this.env[name] || undefined;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      this.problems.push(`${name}="${raw}" must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  }

  ratio(name: string, fallback: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      this.problems.push(`${name}="${raw}" must be a number from 0 to 1`);
      return fallback;
    }
    return value;
  }

  size(name: string, fallback: string): number {
    const raw = this.env[name] || fallback;
    const match = SIZE.exec(raw.trim());
    if (!match) {
      this.problems.push(`${name}="${raw}" must be a size such as 1mb, 512kb or 1048576`);
      return 0;
    }
    const unit = (match[2] ?? 'b').toLowerCase();
    const factor = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[unit] ?? 1;
    return Number(match[1]) * factor;
  }

  url(name: string, protocols: string[]): string | undefined {
    const raw = this.env[name];
    if (!raw) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) this.problems.push(`${name} must use ${protocols.join(' or ')} (got ${parsed.protocol})`);
    } catch {
      this.problems.push(`${name} is not a valid URL`);
    }
    return raw;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const found = allowed.find((value) => value === raw);
    if (found === undefined) {
      this.problems.push(`${name}="${raw}" must be one of ${allowed.join(', ')}`);
      return fallback;
    }
    return found;
  }

  list(name: string): string[] {
    return (this.env[name] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }
}
