/**
 * The JSON body parser of both APIs. Fastify's own answers every refused body, a valid one with a `__proto__` key
 * included, with "Body is not valid JSON"; this one says which: a syntax error (with JSON.parse's position), an empty
 * body, or the key that is refused. JSON.parse itself never sets a prototype, but a key that would do so in a later
 * merge or assignment is refused, like Fastify's default (onProtoPoisoning/onConstructorPoisoning "error").
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

export class BodyError extends Error {
  readonly statusCode = 400;
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The parsed body, or a BodyError saying what is wrong with it. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw new BodyError('bad_json', 'the body is empty: send a JSON object (Content-Type: application/json)');
  let refused: string | null = null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, function (this: unknown, key: string, value: unknown) {
      if (key === '__proto__') refused ??= '__proto__';
      else if (key === 'constructor' && value !== null && typeof value === 'object' && Object.hasOwn(value, 'prototype')) refused ??= 'constructor.prototype';
      return value;
    });
  } catch (err) {
    throw new BodyError('bad_json', `the body is not valid JSON (${(err as Error).message})`);
  }
  if (refused) throw new BodyError('forbidden_key', `the body is valid JSON but holds the key "${refused}", which is refused (it would set an object's prototype); remove it`);
  return parsed;
}

/** Replaces Fastify's JSON parser on `app` by parseJsonBody. */
export function useJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    try {
      done(null, parseJsonBody(String(body)));
    } catch (err) {
      done(err as Error);
    }
  });
}
