import { Init1764028800000 } from '@agentplane/platform';
import { Admission1764288000000 } from './1764288000000-admission';

/** Every migration of rate-limiter, oldest first. Append new ones; never edit a shipped one. */
export const MIGRATIONS = [Init1764028800000, Admission1764288000000];
