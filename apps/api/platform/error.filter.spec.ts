import { HttpAdapterHost } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import pino from 'pino';
import { ErrorFilter } from './error.filter';

/** A 500 is logged with what finds the request again: method, path, request id (never the query). */
describe('ErrorFilter', () => {
  function handle(exception: unknown, headers: Record<string, string> = {}) {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const request = { method: 'POST', url: '/providers/install?token=secret', headers };
    const response = {
      sent: false,
      statusCode: 0,
      body: undefined as unknown,
      header: () => undefined,
      getHeader: () => undefined,
      status(code: number) {
        this.statusCode = code;
        return this;
      },
      send(body: unknown) {
        this.body = body;
        return this;
      },
    };
    const adapterHost = new HttpAdapterHost();
    adapterHost.httpAdapter = new FastifyAdapter();
    new ErrorFilter(logger, adapterHost).catch(exception, new ExecutionContextHost([request, response]));
    return { lines, response };
  }

  it('logs an unexpected error with method, path and the request id, and answers a 500 without details', () => {
    const { lines, response } = handle(new Error('boom'), { 'x-request-id': 'req-42' });
    expect(response.statusCode).toBe(500);
    expect(response.body).toMatchObject({ code: 'internal_error' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: 'request failed', method: 'POST', path: '/providers/install', request_id: 'req-42', status: 500, err: { message: 'boom' } });
    expect(JSON.stringify(lines[0])).not.toContain('secret');
  });

  it('gives a request that came without an id one of its own in the log line', () => {
    const { lines } = handle(new Error('boom'), { 'x-request-id': 'not a valid id' });
    expect(lines[0].request_id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
