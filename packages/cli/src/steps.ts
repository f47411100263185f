/**
 * Resumable steps, shared by `derrd pipeline` and `derrd sweep`: each step records a hash of its inputs and when it
 * started and finished in one JSON state file; a re-run skips a finished step whose inputs did not change, and a
 * training step interrupted with the same inputs resumes from its last completed epoch.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, canonicalJson, checkpointFinished, sha256, writeFileAtomic, type Dataset, type ModelCard } from '@derrd/core';
import { exportCheckpoint } from '@derrd/export';
import { train, type BackendName } from '@derrd/train';
import { info } from './output.js';
import { cardSummary, trainReporter } from './commands/train.js';

export interface StepState { key: string; startedAt: string; finishedAt: string | null }

export class StepRunner {
  readonly statePath: string;
  /** seconds each step took in this invocation (skipped steps are absent) */
  readonly seconds: Record<string, number> = {};
  private readonly state: Record<string, StepState>;

  constructor(statePath: string) {
    this.statePath = statePath;
    let state: unknown = {};
    if (existsSync(statePath)) {
      try {
        state = JSON.parse(readFileSync(statePath, 'utf8'));
      } catch (err) {
        throw new InputError(`the pipeline's step record is not valid JSON (${(err as Error).message}): delete it to run every step again (the models are then trained anew)`, { file: statePath });
      }
    }
    if (state === null || typeof state !== 'object' || Array.isArray(state)) throw new InputError('the pipeline\'s step record is not a JSON object: delete it to run every step again', { file: statePath });
    this.state = state as Record<string, StepState>;
  }

  static keyOf(inputs: unknown): string {
    return sha256(canonicalJson(inputs));
  }

  /** Whether `name` last finished with these inputs (its outputs may still have been deleted since). */
  finishedWith(name: string, inputs: unknown): boolean {
    const s = this.state[name];
    return s !== undefined && s.finishedAt !== null && s.key === StepRunner.keyOf(inputs);
  }

  /** Whether `name` ever finished (with any inputs). */
  finished(name: string): boolean {
    return Boolean(this.state[name]?.finishedAt);
  }

  /**
   * Runs `run` unless the step finished with the same inputs and `done()` still holds. `run` is told whether the
   * last attempt had the same inputs (then an interrupted training may resume).
   */
  async run<T>(name: string, inputs: unknown, done: () => boolean, run: (sameInputsAsLastTime: boolean) => Promise<T> | T): Promise<{ skipped: boolean; value?: T }> {
    const key = StepRunner.keyOf(inputs);
    const t0 = performance.now();
    if (this.state[name]?.key === key && this.state[name].finishedAt && done()) {
      info(`[${name}] up to date, skipped`);
      return { skipped: true };
    }
    info(`[${name}] running`);
    const previous = this.state[name];
    this.state[name] = { key, startedAt: new Date().toISOString(), finishedAt: null };
    this.save();
    const value = await run(previous?.key === key);
    this.state[name].finishedAt = new Date().toISOString();
    this.save();
    this.seconds[name] = (performance.now() - t0) / 1000;
    info(`[${name}] done in ${this.seconds[name].toFixed(1)} s`);
    return { skipped: false, value };
  }

  private save(): void {
    writeFileAtomic(this.statePath, JSON.stringify(this.state, null, 2) + '\n');
  }
}

export interface TrainStepOptions {
  dir: string;
  dataset: Dataset;
  dataDir: string;
  config: Parameters<typeof train>[0]['config'];
  backend: BackendName;
  /** what else the run depends on (a distilled student: the teacher's weights, the method and its settings) */
  key?: unknown;
  terms?: Parameters<typeof train>[0]['buildTerms'];
  method?: ModelCard['method'];
  describe?: () => string;
}

/** The inputs a training step is keyed by. */
export function trainInputs(o: Pick<TrainStepOptions, 'dataset' | 'config' | 'key'>): unknown {
  return { dataset: o.dataset.manifest.hash, config: o.config, extra: o.key ?? null };
}

/** A training step: skipped when finished, resumed from its last epoch when interrupted with the same inputs. */
export async function trainStep(steps: StepRunner, name: string, o: TrainStepOptions): Promise<void> {
  await steps.run(name, trainInputs(o), () => checkpointFinished(o.dir), async (sameInputs) => {
    // an interrupted run of the same step with the same inputs resumes from its last epoch; otherwise start over
    const canResume = sameInputs && existsSync(join(o.dir, 'resume.safetensors'));
    const r = await train({ dataset: o.dataset, datasetPath: o.dataDir, config: o.config, out: o.dir, backend: o.backend, resume: canResume, force: !canResume, buildTerms: o.terms, method: o.method, onEvent: trainReporter(name, o.describe) });
    r.model.dispose();
    info(cardSummary(r.card));
  });
}

/** An export step: `dir`'s saved weights to `path`, skipped while the weights and the file are unchanged. */
export async function exportStep(steps: StepRunner, name: string, dir: string, weightsSha256: string | undefined, path: string, dataDir: string): Promise<{ path: string; bytes: number }> {
  const res = await steps.run(name, { weights: weightsSha256 }, () => existsSync(path), () => exportCheckpoint({ checkpoint: dir, out: path, data: dataDir, force: true }));
  return { path, bytes: res.value?.bytes ?? statSync(path).size };
}
