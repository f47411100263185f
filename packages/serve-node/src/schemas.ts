/**
 * Fastify response schemas: they document the API and let Fastify serialize answers with its compiled serializer
 * (fast-json-stringify) instead of generic JSON.stringify.
 */
const scoredItem = {
  type: 'object',
  properties: { item: { type: 'string' }, score: { type: ['number', 'null'] } },
  required: ['item', 'score'],
} as const;

const userResult = {
  type: 'object',
  properties: {
    user: { type: 'string' },
    coldStart: { type: 'boolean' },
    items: { type: 'array', items: scoredItem },
  },
  required: ['user', 'items'],
} as const;

export const errorBody = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] } },
  required: ['error'],
} as const;

const errors = { '4xx': errorBody, '5xx': errorBody } as const;

export const getRecommendSchema = {
  response: {
    200: { type: 'object', properties: { model: { type: ['string', 'null'] }, ...userResult.properties }, required: ['model', 'user', 'items'] },
    ...errors,
  },
} as const;

export const postRecommendSchema = {
  response: {
    200: { type: 'object', properties: { model: { type: ['string', 'null'] }, results: { type: 'array', items: userResult } }, required: ['model', 'results'] },
    ...errors,
  },
} as const;

const reloadFailure = {
  type: 'object',
  properties: { ok: { type: 'boolean' }, model: { type: 'string' }, error: { type: 'string' }, code: { type: 'string' } },
  required: ['ok', 'error', 'code'],
} as const;

export const reloadSchema = {
  response: {
    200: { type: 'object', properties: { ok: { type: 'boolean' }, model: { type: 'string' }, warmupMs: { type: 'number' } }, required: ['ok', 'model'] },
    '4xx': reloadFailure,
    '5xx': reloadFailure,
  },
} as const;
