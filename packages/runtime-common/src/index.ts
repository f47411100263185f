/**
 * What the Node runtime (@derrd/runtime, onnxruntime-node) and the browser library (@derrd/web, onnxruntime-web)
 * share: reading a model's derrd metadata, checking requests and building the int64 feeds, compacting the top-k
 * outputs, and the raw-id maps with the data-set hash that binds them to their model. Pure code: no Node, DOM or
 * onnxruntime import, so it runs anywhere.
 */
export { readMetadataProps, findNonFiniteWeights, NotOnnxError, type NonFiniteWeights } from './metadata.js';
export { RuntimeError, buildFeeds, buildFlatFeeds, compactResults, flattenExclude, splitFlat, splitResults, type FeedArrays, type FeedLimits, type FlatExclude, type FlatResult } from './feeds.js';
export { checkIdMaps, checkIdMapsName, rawIdOf, type IdMaps, type IdMapExpectation } from './idmaps.js';
export { parseModelInfo, inspectModel, type DerrdModelInfo, type ModelDescription } from './modelinfo.js';
