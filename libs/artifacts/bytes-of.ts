/** A stream's piece as a Buffer: byte streams yield Buffers (or Uint8Arrays), string streams strings. */
export function bytesOf(piece: unknown): Buffer {
  if (Buffer.isBuffer(piece)) return piece;
  if (piece instanceof Uint8Array) return Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  if (typeof piece === 'string') return Buffer.from(piece);
  throw new TypeError('An artifact stream must yield bytes or strings.');
}
