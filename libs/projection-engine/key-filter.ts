/**
 * A Bloom filter over keys: `mightContain` is false only for keys never added. Its size is fixed
 * (4 MiB), so memory stays flat; past a few million keys it answers "maybe" more often, which costs
 * lookups, never correctness.
 */
export class KeyFilter {
  private readonly bits: Uint32Array;
  private readonly mask: number;

  constructor(log2Bits = 25) {
    this.bits = new Uint32Array(2 ** (log2Bits - 5));
    this.mask = 2 ** log2Bits - 1;
  }

  add(key: string): void {
    const [h1, h2] = hashes(key);
    for (let i = 0; i < 4; i++) {
      const bit = (h1 + i * h2) & this.mask;
      this.bits[bit >>> 5] |= 1 << (bit & 31);
    }
  }

  mightContain(key: string): boolean {
    const [h1, h2] = hashes(key);
    for (let i = 0; i < 4; i++) {
      const bit = (h1 + i * h2) & this.mask;
      if ((this.bits[bit >>> 5] & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** Two independent 32-bit string hashes (FNV-1a and a multiplicative one) for double hashing. */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return [a >>> 0, (b | 1) >>> 0];
}
