import { Init1764028800000 } from '@agentplane/platform';
import { Sessions1764115200000 } from './1764115200000-sessions';
import { Fallback1765000000000 } from './1765000000000-fallback';

/** Every migration of planner, oldest first. Append new ones; never edit a shipped one. */
export const MIGRATIONS = [Init1764028800000, Sessions1764115200000, Fallback1765000000000];
