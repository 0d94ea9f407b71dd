import { ValidationOptions, registerDecorator } from 'class-validator';
import * as semver from 'semver';
import { canonicalWheelUrl } from '../../../libs/wheels/wheel-url';

export function IsSemVer(options?: ValidationOptions) {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isSemVer',
      target: object.constructor,
      propertyName,
      options: { message: `${propertyName} must be a valid semantic version such as 1.2.3`, ...options },
      validator: { validate: (value: unknown) => typeof value === 'string' && value.length <= 256 && semver.valid(value) === value },
    });
}

/** An https URL without credentials whose path ends in `.whl` (what `canonicalWheelUrl` accepts). */
export function IsHttpsWheelUrl(options?: ValidationOptions) {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isHttpsWheelUrl',
      target: object.constructor,
      propertyName,
      options: { message: `${propertyName} must be an https URL (without credentials) whose path ends in .whl`, ...options },
      validator: { validate: (value: unknown) => typeof value === 'string' && canonicalWheelUrl(value) !== undefined },
    });
}

/** A JSON object (not an array, not null unless @IsOptional allows it). */
export function IsJsonObject(options?: ValidationOptions) {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isJsonObject',
      target: object.constructor,
      propertyName,
      options: { message: `${propertyName} must be a JSON object`, ...options },
      validator: { validate: (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value) },
    });
}

/** Environment-variable names as keys, strings as values, at most `max` entries. */
export function IsEnvMap(max: number, options?: ValidationOptions) {
  return (object: object, propertyName: string) =>
    registerDecorator({
      name: 'isEnvMap',
      target: object.constructor,
      propertyName,
      options: {
        message: `${propertyName} must be an object of at most ${max} string values whose keys match ^[A-Za-z_][A-Za-z0-9_]*$`,
        ...options,
      },
      validator: {
        validate: (value: unknown) => {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
          const entries = Object.entries(value);
          return (
            entries.length <= max &&
            entries.every(([k, v]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && k.length <= 256 && typeof v === 'string' && v.length <= 32_768)
          );
        },
      },
    });
}
