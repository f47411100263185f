import { BprMf, NeuMf } from '@derrd/train';
import { modelConformance } from './conformance.js';

modelConformance('bpr', (config, seed) => new BprMf(config, seed));
modelConformance('neumf', (config, seed) => new NeuMf(config, seed));
