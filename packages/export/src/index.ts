export { exportCheckpoint, verifyParity, referenceTopK, EXPORT_FORMAT, type ExportOptions, type ExportResult, type ParityReport } from './export.js';
export { GraphBuilder, checkModel, OPS, opVersion, ExportError, DEFAULT_OPSET, MIN_OPSET, MAX_OPSET } from './graph.js';
export { buildBpr, buildNeuMf, quantize, BUILDERS } from './builders.js';
export { encodeModel, decodeModel } from './proto.js';
