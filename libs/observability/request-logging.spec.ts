import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import pino from 'pino';
import { logAnsweredRequest } from './request-logging';

function requestWith(headers: Record<string, string>): IncomingMessage {
  const request = new IncomingMessage(new Socket());
  request.method = 'POST';
  request.url = '/providers/install?dry_run=1';
  request.headers = headers;
  return request;
}

function capture(level: pino.Level): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('logAnsweredRequest', () => {
  it('given an answered request, then one line carries its id, method, url, status, time and correlation id, never its headers', () => {
    const { logger, lines } = capture('info');
    logAnsweredRequest(logger, requestWith({ 'x-request-id': 'req-1', 'x-correlation-id': 'corr-1', authorization: 'Bearer secret' }), 201, 12.4);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      msg: 'request completed',
      req: { id: 'req-1', method: 'POST', url: '/providers/install?dry_run=1' },
      res: { statusCode: 201 },
      responseTime: 12,
      correlation_id: 'corr-1',
    });
    expect(JSON.stringify(lines[0])).not.toContain('secret');
  });

  it('given a refused or failed request, then the line is a warning or an error; the correlation id defaults to the request id', () => {
    const { logger, lines } = capture('info');
    logAnsweredRequest(logger, requestWith({ 'x-request-id': 'req-2' }), 404, 1);
    logAnsweredRequest(logger, requestWith({ 'x-request-id': 'req-3' }), 503, 1);
    expect(lines.map((line) => [line.level, line.correlation_id])).toEqual([
      [40, 'req-2'],
      [50, 'req-3'],
    ]);
  });

  it('given a level above the line, then nothing is built or written', () => {
    const { logger, lines } = capture('error');
    logAnsweredRequest(logger, requestWith({}), 200, 1);
    expect(lines).toHaveLength(0);
  });
});
