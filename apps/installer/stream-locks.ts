/**
 * One piece of work at a time per stream, in arrival order. The consumer's reactions and the
 * registration deadlines both act on installations; serialising them per installation keeps a
 * deadline from failing (and stopping) a generation while a reaction is in the middle of starting it.
 */
export class StreamLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(stream: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(stream) ?? Promise.resolve();
    const result = before.then(() => work());
    const tail = result.catch(() => undefined);
    this.tails.set(stream, tail);
    void tail.then(() => {
      if (this.tails.get(stream) === tail) this.tails.delete(stream);
    });
    return result;
  }
}
