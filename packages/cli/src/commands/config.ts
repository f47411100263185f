/** `derrd config --print`: the full effective pipeline configuration (a valid config file) for a recipe, a file and flags. */
import type { Command } from 'commander';
import { addSettingOptions, readConfigFile, readFlags } from '../flags.js';
import { PIPELINE_SCHEMA, PIPELINE_SECTIONS, PIPELINE_TOP_SETTINGS, pipelineConfigJson, resolvePipeline, type PipelineSection } from '../recipes.js';
import type { Values } from '../settings.js';
import { UsageError } from '../output.js';

export function registerConfigCommand(program: Command): void {
  const cmd = program
    .command('config')
    .description('print the full effective pipeline configuration: every setting with its value for the recipe, a config file and flags (docs/config.md explains each)')
    .option('--print', 'print it as JSON (a valid --config file)', false)
    .option('--config <file>', 'a config file to check and merge over the recipe');
  addSettingOptions(cmd, PIPELINE_TOP_SETTINGS.filter((s) => s.name === 'recipe'));
  cmd.action((opts: { print: boolean; config?: string }) => {
    if (!opts.print) throw new UsageError('config: say what to do: --print (the full effective configuration)');
    const file = opts.config ? readConfigFile(opts.config, PIPELINE_SCHEMA) : undefined;
    const none: Values = {};
    const flags = { top: readFlags(cmd, PIPELINE_TOP_SETTINGS), ...Object.fromEntries(Object.keys(PIPELINE_SECTIONS).map((k) => [k, none])) } as Record<'top' | PipelineSection, Values>;
    process.stdout.write(JSON.stringify(pipelineConfigJson(resolvePipeline(file, flags)), null, 2) + '\n');
  });
}
