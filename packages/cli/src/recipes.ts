/**
 * The pipeline's configuration: named recipes (demo, paper) of defaults, the config file's layout, and how a recipe,
 * a config file and flags combine into the effective configuration that `derrd pipeline` runs and
 * `derrd config --print` shows. Each role inherits what it does not set: the student from the teacher, the
 * distilled student from the student.
 */
import type { CheckedConfig, ConfigSection } from '@derrd/core';
import { parseMethod, trainDefaults, type ModelKind } from '@derrd/train';
import { layer, sectionOf, valuesOf } from './flags.js';
import {
  BACKEND_SETTING, CHECKPOINT_SETTING, DISTILL_SETTINGS, LATENCY_SETTINGS, PREPARE_SETTINGS, RECIPE_SETTING, TRAIN_SETTINGS,
  defaultsOf, methodValues, trainValues, type RecipeName, type Setting, type Values,
} from './settings.js';

/** The students follow the teacher's base model; the pipeline runs on one backend. */
const ROLE_TRAIN_SETTINGS = TRAIN_SETTINGS.filter((s) => s.name !== 'model');

export const PIPELINE_SECTIONS = {
  teacher: { doc: 'the teacher (`derrd train` settings)', settings: [...TRAIN_SETTINGS, CHECKPOINT_SETTING] },
  student: { doc: 'the undistilled student (`derrd train` settings; unset ones are the teacher\'s)', settings: [...ROLE_TRAIN_SETTINGS, CHECKPOINT_SETTING] },
  distill: { doc: 'the distilled student (`derrd distill` settings; unset train settings are the student\'s)', settings: [...ROLE_TRAIN_SETTINGS, ...DISTILL_SETTINGS, CHECKPOINT_SETTING] },
  latency: { doc: 'timing the exported models', settings: LATENCY_SETTINGS },
} as const satisfies Record<string, { doc: string; settings: readonly Setting[] }>;
export type PipelineSection = keyof typeof PIPELINE_SECTIONS;

/** Top-level settings of a pipeline config: the recipe, the backend and how the data is prepared. */
export const PIPELINE_TOP_SETTINGS: readonly Setting[] = [RECIPE_SETTING, BACKEND_SETTING, ...PREPARE_SETTINGS];

export const PIPELINE_SCHEMA: ConfigSection = {
  settings: PIPELINE_TOP_SETTINGS,
  sections: Object.fromEntries(Object.entries(PIPELINE_SECTIONS).map(([name, s]) => [name, { settings: s.settings }])),
  moved: {
    prepare: 'the prepare settings are top-level keys now, e.g. {"candidates": 99}',
    method: 'the method is set in the distill section now: {"distill": {"method": "rrd"}}',
    methodSettings: 'the method\'s settings are keys of the distill section now, by their flag names: {"distill": {"experts": 10, "rrd-top-n": 100}}',
    reuse: 'finished checkpoints are set per role now: {"teacher": {"checkpoint": "runs/teacher"}}',
  },
};

interface Recipe {
  description: string;
  top: Values;
  teacher: Values;
  student: Values;
  distill: Values;
  latency: Values;
}

export const RECIPES: Record<RecipeName, Recipe> = {
  demo: {
    description: 'small models and a fast schedule: minutes on 2 cores for a few thousand users',
    top: {},
    teacher: { model: 'bpr', dim: 64, lr: 0.01, epochs: 60, patience: 10 },
    student: { dim: 8 },
    // DE is the expensive term (tfjs op overhead per expert): the demo distils for at most 30 epochs with 10 experts
    distill: { epochs: 30, experts: 10 },
    latency: { 'reps-b1': 500, 'reps-b64': 50, threads: 2, providers: ['cpu', 'wasm'] },
  },
  paper: {
    description: 'the DE-RRD paper\'s settings (BPR teacher d=200, students d=20, up to 1,000 epochs): hours on 2 cores for CiteULike',
    top: {},
    teacher: { model: 'bpr', dim: 200 },
    student: { dim: 20 },
    distill: {},
    latency: { 'reps-b1': 1000, 'reps-b64': 100, threads: 2, providers: ['cpu', 'wasm'] },
  },
};

/** The effective configuration, by setting name: what `derrd config --print` prints and the pipeline runs. */
export interface PipelineValues {
  top: Values;
  teacher: Values;
  student: Values;
  distill: Values;
  latency: Values;
}

/** The recipe named by a flag, else by the config file, else demo; and where the name came from. */
export function recipeOf(file: CheckedConfig | undefined, flags: Values): { name: RecipeName; from: 'flag' | 'config' | 'default' } {
  if (flags.recipe !== undefined) return { name: flags.recipe as RecipeName, from: 'flag' };
  if (file?.recipe !== undefined) return { name: file.recipe as RecipeName, from: 'config' };
  return { name: 'demo', from: 'default' };
}

/**
 * Combines base defaults < recipe < config file < flags, per role. `flags` holds the flags by section ("top" for
 * the top-level ones); `teacherOverride` (a finished teacher's own settings) beats them all. The teacher's base model picks its per-model defaults (batch size, L2), the method its terms'.
 */
export function resolvePipeline(file: CheckedConfig | undefined, flags: Record<'top' | PipelineSection, Values>, teacherOverride?: Values): PipelineValues {
  const recipe = RECIPES[recipeOf(file, flags.top).name];
  const fileOf = (section: PipelineSection) => valuesOf(sectionOf(file, section));
  const top = layer(defaultsOf(PIPELINE_TOP_SETTINGS), recipe.top, valuesOf(file), flags.top);
  top.recipe = recipeOf(file, flags.top).name;

  const teacherGiven = layer(recipe.teacher, fileOf('teacher'), flags.teacher, teacherOverride);
  const model = (teacherGiven.model ?? 'bpr') as ModelKind;
  const teacher = layer(trainValues(trainDefaults(model)), teacherGiven);
  const { checkpoint: _t, ...teacherTrain } = teacher;
  const student = layer(teacherTrain, recipe.student, fileOf('student'), flags.student);
  delete student.model;
  const { checkpoint: _s, ...studentTrain } = student;
  const distillGiven = layer(recipe.distill, fileOf('distill'), flags.distill);
  const method = parseMethod(String(distillGiven.method ?? 'de-rrd'));
  const distill = layer(studentTrain, methodValues(model, method), distillGiven);
  const latency = layer(recipe.latency, fileOf('latency'), flags.latency);
  return { top, teacher, student, distill, latency };
}

/** The effective configuration as a config file (every setting, null where unset), for `derrd config --print`. */
export function pipelineConfigJson(v: PipelineValues): Record<string, unknown> {
  const complete = (settings: readonly Setting[], values: Values) => Object.fromEntries(settings.map((s) => [s.name, values[s.name] ?? null]));
  const out: Record<string, unknown> = complete(PIPELINE_TOP_SETTINGS, v.top);
  for (const [name, section] of Object.entries(PIPELINE_SECTIONS)) out[name] = complete(section.settings, v[name as PipelineSection]);
  return out;
}
