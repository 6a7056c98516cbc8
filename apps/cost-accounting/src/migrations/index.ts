import { Init1764028800000 } from '@agentplane/platform';
import { CostProjections1764201600000 } from './1764201600000-cost-projections';

/** Every migration of cost-accounting, oldest first. Append new ones; never edit a shipped one. */
export const MIGRATIONS = [Init1764028800000, CostProjections1764201600000];
