import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';

/**
 * Optional global filter (`app.useGlobalFilters(new PreserveErrorsFilter())`): hands any error a
 * handler throws to the transport unchanged, so foreign errors (pg, fetch, kafkajs) are
 * classified by isRetriable() too. Without it Nest turns them into "Internal server error"
 * (non-retriable → dead letter); AgentplaneError subclasses get through either way.
 */
@Catch()
export class PreserveErrorsFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}
