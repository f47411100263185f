/**
 * Distillation methods and their defaults, in one place: which terms each method adds and the per-base-model
 * defaults. Where each default comes from (the authors' code, the paper's tables, or an inference) is in
 * docs/method.md#defaults-and-where-they-come-from; the CiteULike runs behind the measured choices are in
 * docs/results.md.
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
