#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { registerDataCommands } from './commands/data.js';
import { registerPipelineCommand } from './commands/pipeline.js';
import { registerTrainCommands } from './commands/train.js';
import { registerDistillCommand } from './commands/distill.js';
import { registerExportCommand } from './commands/export.js';
import { registerServeCommand } from './commands/serve.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerCompareCommand } from './commands/compare.js';
import { registerCurvesCommand } from './commands/curves.js';
import { registerConfigCommand } from './commands/config.js';
import { registerTeacherCommands } from './commands/teacher.js';
import { reportError } from './output.js';

const program = new Command();
program
  .name('derrd')
  .description('Distil a large recommender into a small one (DE-RRD), export it to ONNX and serve it.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .configureHelp({ showGlobalOptions: true })
  .exitOverride();

registerDataCommands(program);
registerTrainCommands(program);
registerDistillCommand(program);
registerExportCommand(program);
registerServeCommand(program);
registerDemoCommand(program);
registerCompareCommand(program);
registerCurvesCommand(program);
registerPipelineCommand(program);
registerConfigCommand(program);
registerTeacherCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed its message (or the help / version)
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.exitCode = reportError(err);
  }
}
