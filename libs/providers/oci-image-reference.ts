/**
 * OCI image references as the distribution project's reference grammar defines them
 * (`[registry[:port]/]repository[:tag][@digest]`), with the digest restricted to the algorithms
 * registries actually serve (sha256, sha512). A reference that passes here is what a container
 * runtime can pull, so a typo is refused at publish rather than discovered as ImagePullBackOff.
 */

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const REGISTRY = `${HOST}(?::[0-9]{1,5})?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = 'sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}';

const REFERENCE = new RegExp(`^(?<name>(?:${REGISTRY}/)?${REPOSITORY})(?::${TAG})?(?:@(?:${DIGEST}))?$`);

/** The grammar's limit on the name (registry and repository); the whole reference is bounded too. */
const MAX_NAME_LENGTH = 255;
export const MAX_IMAGE_REFERENCE_LENGTH = 512;

export function isOciImageReference(value: string): boolean {
  if (value.length === 0 || value.length > MAX_IMAGE_REFERENCE_LENGTH) return false;
  const match = REFERENCE.exec(value);
  return match !== null && (match.groups?.name ?? '').length <= MAX_NAME_LENGTH;
}
