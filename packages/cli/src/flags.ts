/**
 * The settings table on the command line and in config files: adds a commander option per setting (help text with
 * the valid range and default), reads back only the flags the user gave, and loads a config file checked against
 * the same table. A flag beats the config file, which beats the default.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { InputError, SettingError, checkConfig, checkSetting, describeType, type CheckedConfig, type ConfigSection, type SettingValue } from '@derrd/core';
import { UsageError } from './output.js';
import type { Setting, Values } from './settings.js';

const placeholder = (s: Setting) => {
  switch (s.type.kind) {
    case 'integer': return '<n>';
    case 'number': return '<x>';
    case 'list': return '<list>';
    case 'choice': return '<name>';
    default: return s.name === 'checkpoint' ? '<dir>' : '<value>';
  }
};

export function defaultText(s: Setting, defaults?: Values): string | undefined {
  const d = defaults?.[s.name] ?? s.default;
  if (d !== undefined) return Array.isArray(d) ? d.join(',') : String(d);
  return s.defaultText;
}

/**
 * Adds `--<prefix><name>` for each setting. `defaults` overrides the table's defaults in the help text (e.g. a
 * recipe's); nothing is given to commander as a default, so an unset flag stays distinguishable from a set one.
 */
export function addSettingOptions(cmd: Command, settings: readonly Setting[], o: { prefix?: string; defaults?: Values; section?: string } = {}): Command {
  const prefix = o.prefix ?? '';
  for (const s of settings) {
    const flag = `--${prefix}${s.name}`;
    const shortFlag = s.short && !prefix ? `-${s.short}, ` : '';
    const d = defaultText(s, o.defaults);
    const where = o.section ? ` [${o.section}]` : '';
    const help = `${s.doc}${where} (${describeType(s.type)}${d !== undefined ? `; default: ${d}` : ''})`;
    if (s.type.kind === 'boolean') {
      cmd.option(`${shortFlag}${flag}`, help);
      cmd.option(`--no-${prefix}${s.name}`, `the opposite of ${flag}`);
    } else {
      cmd.option(`${shortFlag}${flag} ${placeholder(s)}`, help);
    }
  }
  return cmd;
}

function optionFor(cmd: Command, flag: string): Option | undefined {
  return cmd.options.find((opt) => opt.long === flag || opt.long === flag.replace(/^--/, '--no-'));
}

/** The settings given as flags, checked; flags not given are absent. */
export function readFlags(cmd: Command, settings: readonly Setting[], prefix = ''): Values {
  const out: Values = {};
  const opts = cmd.opts();
  for (const s of settings) {
    const option = optionFor(cmd, `--${prefix}${s.name}`);
    if (!option) continue;
    const attr = option.attributeName();
    if (cmd.getOptionValueSource(attr) !== 'cli') continue;
    try {
      out[s.name] = checkSetting(s, opts[attr], `--${prefix}${s.name}`, 'flag');
    } catch (err) {
      if (err instanceof SettingError) throw new UsageError(err.message);
      throw err;
    }
  }
  return out;
}

/** A config file, parsed and checked against `schema` (unknown keys refused at every level). */
export function readConfigFile(path: string, schema: ConfigSection): CheckedConfig {
  if (!existsSync(path)) throw new InputError('config file not found', { file: path });
  if (statSync(path).isDirectory()) throw new InputError('config file is a directory, expected a JSON file', { file: path });
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InputError(`config is not valid JSON (${(err as Error).message})`, { file: path });
  }
  return checkConfig(value, schema, path);
}

/** The setting values of one level of a checked config (sub-sections left out). */
export function valuesOf(config: CheckedConfig | undefined): Values {
  const out: Values = {};
  for (const [k, v] of Object.entries(config ?? {})) if (!isSection(v)) out[k] = v;
  return out;
}

export function sectionOf(config: CheckedConfig | undefined, name: string): CheckedConfig | undefined {
  const v = config?.[name];
  return v !== undefined && isSection(v) ? v : undefined;
}

function isSection(v: SettingValue | CheckedConfig): v is CheckedConfig {
  return typeof v === 'object' && !Array.isArray(v);
}

/** Later layers win; undefined never overrides. */
export function layer(...layers: (Values | undefined)[]): Values {
  const out: Values = {};
  for (const l of layers) for (const [k, v] of Object.entries(l ?? {})) if (v !== undefined) out[k] = v;
  return out;
}
