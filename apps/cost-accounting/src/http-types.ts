import type { IncomingMessage, ServerResponse } from 'node:http';

/** The slice of Express' request/response the controllers use (no @types/express in the tree). */
export type Request = IncomingMessage & { query: Record<string, unknown> };
export type Response = ServerResponse & {
  json(body: unknown): void;
  send(body: unknown): void;
  sendFile(path: string): void;
  redirect(url: string): void;
};
