import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Observable, mergeMap } from 'rxjs';
import { READ_MODEL_LAGGING_HEADER, commandPositionOf } from './command-response';
import { HttpResponse } from './http-types';
import { ReadModelWaiter } from './read-model-waiter';

/**
 * Read-your-writes where the store cannot write the read models in the append's transaction
 * (EventStoreDB): a command answers once the read models have passed its position, bounded by
 * READ_MODEL_WAIT_MS; past the bound it still answers 2xx, naming the read models still behind in
 * `X-Read-Model-Lagging`. The one place on the command path that waits; a no-op on PostgreSQL,
 * whose read models are written inline.
 */
@Injectable()
export class ReadModelCatchUpInterceptor implements NestInterceptor {
  constructor(private readonly readModels: ReadModelWaiter) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (!this.readModels.commandsWait || context.getType() !== 'http') return next.handle();
    const response = context.switchToHttp().getResponse<HttpResponse>();
    return next.handle().pipe(
      mergeMap(async (body: unknown) => {
        const position = commandPositionOf(response);
        if (!position) return body;
        const lagging = await this.readModels.waitForCommand(position);
        if (lagging.length > 0) response.header(READ_MODEL_LAGGING_HEADER, lagging.join(','));
        return body;
      }),
    );
  }
}
