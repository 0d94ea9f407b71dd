import type { NextFunction, Request, Response } from 'express';
import { observabilityMetrics } from '../../../libs/observability/metrics';

/** Request durations by route template (never the raw path: its cardinality would be unbounded). */
export function httpMetrics(): (req: Request, res: Response, next: NextFunction) => void {
  const duration = observabilityMetrics().httpRequestDuration;
  return (req, res, next) => {
    const end = duration.startTimer();
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}
