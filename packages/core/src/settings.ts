/**
 * Typed settings: one description per setting (name, type, valid range, one-line doc) from which a program parses its
 * command-line flags and checks its config files, so both accept the same names and the same values. Pure: the CLI
 * builds derrd's own table of settings on top of this.
 */
import { InputError } from './errors.js';

export type SettingValue = number | string | boolean | string[];

/** Bounds of a numeric setting; an exclusive bound is left out of the valid range. */
export interface SettingRange {
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
}

export type SettingType =
  /** `values`: the only integers allowed, e.g. the evaluation cutoffs */
  | { kind: 'integer'; range: SettingRange; values?: readonly number[] }
  | { kind: 'number'; range: SettingRange }
  | { kind: 'choice'; choices: readonly string[] }
  /** comma-separated on the command line, an array (or a comma-separated string) in a config file */
  | { kind: 'list'; choices?: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'string' };

export interface SettingSpec {
  /** kebab-case: the flag is --name and the config key is "name" */
  name: string;
  type: SettingType;
  /** one line for --help and docs/config.md */
  doc: string;
  /** a one-letter flag alias, e.g. "i" for -i */
  short?: string;
  /** names this setting had in older config files, answered with "renamed" instead of a guess */
  formerly?: readonly string[];
  /** may be left unset (null in a config file): derrd then derives it, e.g. detects the delimiter */
  optional?: boolean;
}

/** A bad setting value or an unknown setting name; `setting` is how the user wrote its name (--flag or key path). */
export class SettingError extends InputError {
  readonly setting: string;
  constructor(setting: string, problem: string, where: { file?: string } = {}) {
    super(problem, where);
    this.name = 'SettingError';
    this.setting = setting;
  }
}

/** "an integer >= 1", "a number > 0", "one of sparse|exact": what a valid value is. */
export function describeType(type: SettingType): string {
  switch (type.kind) {
    case 'integer': return type.values ? `one of ${type.values.join('|')}` : `an integer${rangeText(type.range)}`;
    case 'number': return `a number${rangeText(type.range)}`;
    case 'choice': return `one of ${type.choices.join('|')}`;
    case 'list': return type.choices ? `a comma-separated list of ${type.choices.join('|')}` : 'a comma-separated list';
    case 'boolean': return 'true or false';
    case 'string': return 'a string';
  }
}

function rangeText(r: SettingRange): string {
  const lo = r.min === undefined ? null : `${r.minExclusive ? '>' : '>='} ${r.min}`;
  const hi = r.max === undefined ? null : `${r.maxExclusive ? '<' : '<='} ${r.max}`;
  if (lo && hi) return ` ${lo} and ${hi}`;
  return lo ? ` ${lo}` : hi ? ` ${hi}` : '';
}

function inRange(x: number, r: SettingRange): boolean {
  if (r.min !== undefined && (r.minExclusive ? x <= r.min : x < r.min)) return false;
  if (r.max !== undefined && (r.maxExclusive ? x >= r.max : x > r.max)) return false;
  return true;
}

const shown = (v: unknown) => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v));

/**
 * Checks one value: `value` is the text of a command-line flag (`source: 'flag'`) or a JSON value from a config file.
 * `label` names the setting in the message (--tau-start, or the key path distill.tau-start).
 */
export function checkSetting(spec: SettingSpec, value: unknown, label: string, source: 'flag' | 'config', file?: string): SettingValue {
  const fail = (): never => {
    throw new SettingError(label, `${label} must be ${describeType(spec.type)}, got ${shown(value)}`, { file });
  };
  const t = spec.type;
  switch (t.kind) {
    case 'integer':
    case 'number': {
      let n: number;
      if (typeof value === 'number') n = value;
      else if (source === 'flag' && typeof value === 'string' && value.trim() !== '') n = Number(value);
      else return fail();
      if (!Number.isFinite(n) || (t.kind === 'integer' && !Number.isInteger(n)) || !inRange(n, t.range)) return fail();
      if (t.kind === 'integer' && t.values && !t.values.includes(n)) return fail();
      return n;
    }
    case 'choice':
      if (typeof value !== 'string' || !t.choices.includes(value)) return fail();
      return value;
    case 'list': {
      const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : null;
      if (!items || items.length === 0 || items.some((s) => typeof s !== 'string' || (t.choices !== undefined && !t.choices.includes(s)))) return fail();
      return items as string[];
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (source === 'flag' && (value === 'true' || value === 'false')) return value === 'true';
      return fail();
    case 'string':
      if (typeof value !== 'string' || value === '') return fail();
      return value;
  }
}

/** Edit distance with adjacent transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_v, i) => Array.from({ length: b.length + 1 }, (_w, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The valid name closest to `name`, comparing case- and separator-blind (maxEpochs ~ max-epochs). */
export function nearestName(name: string, valid: readonly string[]): string | null {
  const norm = (s: string) => s.toLowerCase().replace(/[-_ ]/g, '');
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of valid) {
    const d = editDistance(norm(name), norm(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** One level of a config file: its settings and its named sub-sections. */
export interface ConfigSection {
  settings: readonly SettingSpec[];
  sections?: Readonly<Record<string, ConfigSection>>;
  /** keys of older layouts and where their content went, e.g. {"prepare": "its settings are top-level keys now"} */
  moved?: Readonly<Record<string, string>>;
}

/** The sections (by key path) that hold a setting called `name`. */
function sectionsHolding(schema: ConfigSection, name: string, path = ''): string[] {
  const here = schema.settings.some((s) => s.name === name) ? [path === '' ? 'the top level' : `"${path}"`] : [];
  return [...here, ...Object.entries(schema.sections ?? {}).flatMap(([k, sub]) => sectionsHolding(sub, name, path === '' ? k : `${path}.${k}`))];
}

/** A checked config object: setting values and sub-sections, by the names in the file. */
export interface CheckedConfig {
  [key: string]: SettingValue | CheckedConfig;
}

/**
 * Checks a parsed config file against its schema, at every nesting level: each value has its setting's type and range,
 * and an unknown key is refused with the nearest valid name at its level (or the new name of a renamed setting).
 */
export function checkConfig(value: unknown, schema: ConfigSection, file?: string, path = '', root: ConfigSection = schema): CheckedConfig {
  const where = path === '' ? 'the config file' : `config section "${path}"`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SettingError(path, `${where} must be a JSON object ({"key": value, ...}), got ${shown(value)}`, { file });
  }
  const out: CheckedConfig = {};
  const specs = new Map(schema.settings.map((s) => [s.name, s]));
  const sections = schema.sections ?? {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const label = path === '' ? key : `${path}.${key}`;
    const spec = specs.get(key);
    if (spec && v === null && spec.optional) continue;
    if (spec) {
      out[key] = checkSetting(spec, v, `config key "${label}"`, 'config', file);
    } else if (Object.hasOwn(sections, key)) {
      out[key] = checkConfig(v, sections[key], file, label, root);
    } else {
      const renamed = schema.settings.find((s) => s.formerly?.includes(key));
      const names = [...specs.keys(), ...Object.keys(sections)];
      const elsewhere = sectionsHolding(root, key);
      const hint = schema.moved?.[key] ?? (renamed ? `renamed: use "${renamed.name}"`
        : elsewhere.length > 0 ? `"${key}" is a setting of ${elsewhere.join(' and ')}`
          : `did you mean "${path === '' ? '' : `${path}.`}${nearestName(key, names)}"?`);
      throw new SettingError(label, `unknown config key "${label}" (${hint}; valid keys ${path === '' ? 'at the top level' : `in "${path}"`}: ${names.join(', ')})`, { file });
    }
  }
  return out;
}
