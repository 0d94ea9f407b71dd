import { waitUntil } from './wait-until';

describe('waitUntil', () => {
  it('answers true as soon as the condition holds, having checked until then', async () => {
    let checks = 0;
    expect(await waitUntil(async () => ++checks === 3, { timeoutMs: 1000, intervalMs: 1 })).toBe(true);
    expect(checks).toBe(3);
  });

  it('answers false once the deadline has passed, after a last check', async () => {
    const started = Date.now();
    let checks = 0;
    expect(await waitUntil(async () => (checks++, false), { timeoutMs: 50, intervalMs: 10 })).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
    expect(checks).toBeGreaterThan(1);
  });

  it('stops at once when aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    let checks = 0;
    expect(await waitUntil(async () => (checks++, false), { timeoutMs: 10_000, signal: controller.signal })).toBe(false);
    expect(checks).toBe(1);
  });
});
