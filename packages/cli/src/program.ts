/**
 * The `derrd` program: every command registered on a fresh commander program, and one place that turns an error into
 * its exit code and message. main.ts runs it for the installed command; tests may run it in-process.
 */
import { Command, CommanderError } from 'commander';
import { registerDataCommands } from './commands/data.js';
import { registerPipelineCommand } from './commands/pipeline.js';
import { registerSweepCommand } from './commands/sweep.js';
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

export function buildProgram(): Command {
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
  registerSweepCommand(program);
  registerConfigCommand(program);
  registerTeacherCommands(program);
  return program;
}

/** Runs `derrd` on `argv` (node, script, args…) and returns its exit code: 0, 1 bad input, 2 bad usage, 70 internal. */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv]);
    return 0;
  } catch (err) {
    // commander already printed its message (or the help / version)
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    return reportError(err);
  }
}
