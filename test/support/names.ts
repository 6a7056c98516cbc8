import { randomUUID } from 'node:crypto';

/** A fresh name per test run: topics and groups never collide across tests or reruns. */
export function randomName(prefix = 't'): string {
  return `${prefix}-${randomUUID()}`;
}

export const randomTopic = (prefix = 't'): string => randomName(prefix);
export const randomGroup = (prefix = 'g'): string => randomName(prefix);
