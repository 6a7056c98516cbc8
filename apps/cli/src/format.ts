import { TailEvent } from '@agentplane/infra';

const MAX_DATA = 120;

/** One line per event: time, type, subject, short data (or the stored JSON with --json). */
export function formatEvent(e: TailEvent, json: boolean): string {
  if (json) {
    return JSON.stringify(typeof e.value === 'object' && e.value !== null ? e.value : { topic: e.topic, offset: e.offset, value: e.value });
  }
  let data = typeof e.data === 'string' ? e.data : JSON.stringify(e.data) ?? '';
  if (data.length > MAX_DATA) data = `${data.slice(0, MAX_DATA - 1)}…`;
  const time = e.time.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
  const type = e.type.replace(/^agentplane\./, '');
  return `${time}  ${type.padEnd(26)} ${(e.subject ?? '-').padEnd(36)} ${data}`;
}
