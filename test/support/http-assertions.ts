import { TestApp, TestResponse } from './test-app';

/** The request must fail with this status and code, carry the error body, and append nothing. */
export async function expectRejected(t: TestApp, send: () => Promise<TestResponse>, status: number, code: string): Promise<TestResponse> {
  const before = await t.eventCount();
  const res = await send();
  if (res.status !== status || res.body?.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.status} ${res.text}`);
  }
  expect(res.headers.get('content-type')).toBe('application/json');
  expect(res.body).toEqual({ code, message: expect.any(String), details: expect.any(Array) });
  expect(res.body.message.length).toBeGreaterThan(0);
  expect(await t.eventCount()).toBe(before);
  return res;
}

/** The request must succeed with this status; the error text is shown when it does not. */
export async function expectStatus(send: Promise<TestResponse>, status = 200): Promise<TestResponse> {
  const res = await send;
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status} ${res.text}`);
  return res;
}
