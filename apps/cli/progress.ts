import { SingleBar } from 'cli-progress';

export interface ProgressView {
  start(total: number | undefined): void;
  update(processed: number, eventsPerSecond: number): void;
  stop(): void;
}

/**
 * Rebuild progress: a bar with events/s and ETA on a terminal, otherwise plain lines at most once a
 * second (`rebuild <name>: 120000/1000000 events, 51234 ev/s`), so logs and pipes stay readable.
 */
export function progressView(name: string, stream: NodeJS.WriteStream): ProgressView {
  if (stream.isTTY) return new BarView(name, stream);
  return new LineView(name, stream);
}

class BarView implements ProgressView {
  private bar?: SingleBar;
  private fallback?: LineView;
  private total = 0;

  constructor(
    private readonly name: string,
    private readonly stream: NodeJS.WriteStream,
  ) {}

  start(total: number | undefined): void {
    if (total === undefined) {
      this.fallback = new LineView(this.name, this.stream);
      this.fallback.start(total);
      return;
    }
    this.total = total;
    this.bar = new SingleBar({
      format: `rebuild ${this.name} [{bar}] {percentage}% | {value}/{total} events | {eps} ev/s | ETA {eta_formatted}`,
      stream: this.stream,
      hideCursor: true,
      etaBuffer: 20,
      fps: 5,
    });
    this.bar.start(total, 0, { eps: 0 });
  }

  update(processed: number, eventsPerSecond: number): void {
    if (this.fallback) return this.fallback.update(processed, eventsPerSecond);
    if (!this.bar) return;
    // Events appended while the rebuild runs push the total up.
    if (processed > this.total) {
      this.total = processed;
      this.bar.setTotal(processed);
    }
    this.bar.update(processed, { eps: eventsPerSecond });
  }

  stop(): void {
    this.fallback?.stop();
    this.bar?.stop();
  }
}

class LineView implements ProgressView {
  private total: number | undefined;
  private lastPrinted = 0;
  private last?: { processed: number; eps: number };
  private printedLast = true;

  constructor(
    private readonly name: string,
    private readonly stream: NodeJS.WriteStream,
  ) {}

  start(total: number | undefined): void {
    this.total = total;
  }

  update(processed: number, eventsPerSecond: number): void {
    if (this.last && this.last.processed === processed) return;
    this.last = { processed, eps: eventsPerSecond };
    this.printedLast = false;
    const now = Date.now();
    if (now - this.lastPrinted >= 1000) {
      this.lastPrinted = now;
      this.print();
    }
  }

  stop(): void {
    if (!this.printedLast) this.print();
  }

  private print(): void {
    if (!this.last) return;
    const total = this.total === undefined ? '' : `/${Math.max(this.total, this.last.processed)}`;
    this.stream.write(`rebuild ${this.name}: ${this.last.processed}${total} events, ${this.last.eps} ev/s\n`);
    this.printedLast = true;
  }
}
