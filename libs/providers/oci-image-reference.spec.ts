import { isOciImageReference } from './oci-image-reference';

const SHA256 = 'a'.repeat(64);

describe('isOciImageReference', () => {
  it.each([
    'ghcr.io/acme/runtime',
    'ghcr.io/acme/runtime:1.2.3',
    `ghcr.io/acme/runtime@sha256:${SHA256}`,
    `ghcr.io/acme/runtime:1.2.3@sha256:${SHA256}`,
    `registry.example.com/a/b/c@sha512:${'0'.repeat(128)}`,
    'localhost:5000/runtime:dev',
    'registry.example.com:443/team/run_time.v2:v1.0-rc.1',
    '[::1]:5000/runtime:latest',
    'runtime',
    'library/python:3.12-slim',
    'acme/runtime__x:TAG_1',
  ])('accepts %s', (reference) => {
    expect(isOciImageReference(reference)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['upper-case repository', 'ghcr.io/Acme/runtime:1'],
    ['a scheme', 'https://ghcr.io/acme/runtime:1'],
    ['a tag starting with a dot', 'ghcr.io/acme/runtime:.1'],
    ['a tag longer than 128', `ghcr.io/acme/runtime:${'t'.repeat(129)}`],
    ['an empty tag', 'ghcr.io/acme/runtime:'],
    ['a short digest', 'ghcr.io/acme/runtime@sha256:abc'],
    ['an unknown digest algorithm', `ghcr.io/acme/runtime@md5:${SHA256}`],
    ['an upper-case digest', `ghcr.io/acme/runtime@sha256:${'A'.repeat(64)}`],
    ['a trailing slash', 'ghcr.io/acme/runtime/'],
    ['a double slash', 'ghcr.io//runtime'],
    ['a leading separator in a path component', 'ghcr.io/-acme/runtime'],
    ['whitespace', 'ghcr.io/acme/runtime 1'],
    ['a host path', '/opt/runtime'],
    ['shell metacharacters', 'ghcr.io/acme/runtime;rm -rf'],
    ['two tags', 'ghcr.io/acme/runtime:1:2'],
    ['a name over 255 characters', `ghcr.io/${'a'.repeat(250)}/runtime`],
  ])('refuses %s', (_why, reference) => {
    expect(isOciImageReference(reference)).toBe(false);
  });
});
