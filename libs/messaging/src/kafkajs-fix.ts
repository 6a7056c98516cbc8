/**
 * kafkajs 2.2.4 RequestQueue bug: after the first response every connection re-arms a timer
 * with a negative delay (Node clamps it to 1 ms and, from Node 23, prints TimeoutNegativeWarning)
 * even when nothing is pending, forever. Measured here: ~900 wake-ups/s and ~4% of a core per
 * idle connection. Upstream only needs the timer while requests are pending (push() re-arms it),
 * so we install that behaviour. Applied once, and only to the exact version it was written for.
 */
interface RequestQueueLike {
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  throttledUntil: number;
  pending: unknown[];
  checkPendingRequests(): void;
}

const CHECK_PENDING_REQUESTS_INTERVAL = 10; // ms, as upstream
let applied = false;

export function applyKafkajsFixes(): boolean {
  if (applied) return true;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const version: string = require('kafkajs/package.json').version;
    if (version !== '2.2.4') return false;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const RequestQueue = require('kafkajs/src/network/requestQueue') as { prototype: RequestQueueLike & { scheduleCheckPendingRequests(): void } };
    if (typeof RequestQueue?.prototype?.scheduleCheckPendingRequests !== 'function') return false;
    RequestQueue.prototype.scheduleCheckPendingRequests = function (this: RequestQueueLike): void {
      if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
      const untilThrottleEnds = this.throttledUntil - Date.now();
      this.throttleCheckTimeoutId = setTimeout(() => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      }, untilThrottleEnds > 0 ? untilThrottleEnds : CHECK_PENDING_REQUESTS_INTERVAL);
    };
    applied = true;
    return true;
  } catch {
    return false;
  }
}
