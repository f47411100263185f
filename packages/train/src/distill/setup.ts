/**
 * Everything a distillation run needs from a trained teacher, in one place for the CLI, the pipeline and the
 * benchmarks: the terms for a fresh student, the teacher ranking (computed or reused on first use), the method record
 * for the model card, and a per-epoch description of the DE terms.
 */
import { resolve } from 'node:path';
import type { Dataset, ModelCard } from '@derrd/core';
import type { LoadedCheckpoint } from '../checkpoint.js';
import type { RecModel } from '../models/model.js';
import type { LossTerm } from '../terms.js';
import { DeTerm } from './de.js';
import { buildTerms, methodTerms, needsItemRanking, needsRanking, type MethodName, type MethodSettings } from './methods.js';
import { teacherItemRanking, teacherRanking, type TeacherItemRanking } from './teacher-ranking.js';

export interface DistillationSetup {
  /** recorded in the student's model card: method, the settings of its terms, the teacher */
  method: ModelCard['method'];
  buildTerms(student: RecModel): LossTerm[];
  /** τ and experts per entity of the DE terms last built */
  describe(): string;
}

export interface DistillationOptions {
  teacherDir: string;
  teacher: LoadedCheckpoint;
  dataset: Dataset;
  method: MethodName;
  settings: MethodSettings;
  seed: number;
  /** progress of a ranking being computed: side 'user' (top items per user) or 'item' (top users per item, IR) */
  onRankingProgress?: (done: number, total: number, side: 'user' | 'item') => void;
  onRanking?: (result: { cached: boolean; seconds: number; topN: number; side: 'user' | 'item' }) => void;
}

export function prepareDistillation(o: DistillationOptions): DistillationSetup {
  const teacherDir = resolve(o.teacherDir);
  let terms: LossTerm[] = [];
  return {
    method: {
      name: o.method,
      settings: Object.fromEntries(methodTerms(o.method).map((t) => [t, o.settings[t]])),
      teacher: { path: teacherDir, kind: o.teacher.card.model.kind, dim: o.teacher.card.model.dim, weightsSha256: o.teacher.weightsSha256 },
    },
    buildTerms: (student) => {
      let ranking = null;
      if (needsRanking(o.method)) {
        const started = performance.now();
        const result = teacherRanking(teacherDir, o.teacher.model, o.teacher.weightsSha256, o.dataset, o.settings.rrd.topN, (d, t) => o.onRankingProgress?.(d, t, 'user'));
        o.onRanking?.({ cached: result.cached, seconds: (performance.now() - started) / 1000, topN: o.settings.rrd.topN, side: 'user' });
        ranking = result.ranking;
      }
      let itemRanking: TeacherItemRanking | null = null;
      if (needsItemRanking(o.method)) {
        const started = performance.now();
        const result = teacherItemRanking(teacherDir, o.teacher.model, o.teacher.weightsSha256, o.dataset, o.settings.ir.topN, (d, t) => o.onRankingProgress?.(d, t, 'item'));
        o.onRanking?.({ cached: result.cached, seconds: (performance.now() - started) / 1000, topN: o.settings.ir.topN, side: 'item' });
        itemRanking = result.ranking;
      }
      terms = buildTerms({ method: o.method, student, teacher: o.teacher.model, dataset: o.dataset, ranking, itemRanking, settings: o.settings, seed: o.seed });
      return terms;
    },
    describe: () => terms
      .filter((t): t is DeTerm => t instanceof DeTerm)
      .map((t) => `τ=${t.temperature.toPrecision(3)}${t.settings_.mode === 'sparse' ? ` experts/entity ${t.lastExpertsPerEntity.toFixed(2)}` : ''}`)
      .join(' '),
  };
}
