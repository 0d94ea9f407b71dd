import type { NextFunction, Request, Response } from 'express';
import { Histogram, collectDefaultMetrics, register } from 'prom-client';

let registered = false;
let duration: Histogram<'method' | 'route' | 'status'>;

/** Request durations by route template (never the raw path: its cardinality would be unbounded). */
export function httpMetrics(): (req: Request, res: Response, next: NextFunction) => void {
  if (!registered) {
    registered = true;
    collectDefaultMetrics({ register });
    duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
  }
  return (req, res, next) => {
    const end = duration.startTimer();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}
