import { Init1764028800000 } from '@agentplane/platform';
import { Idempotency1764288000000 } from './1764288000000-idempotency';

/** Every migration of executor, oldest first. Append new ones; never edit a shipped one. */
export const MIGRATIONS = [Init1764028800000, Idempotency1764288000000];
