/** The DE kernel's thread count from a `de-threads` setting, applied for the runs to come, and the log line saying what runs. */
import { deThreads, describeMixtureLoops, setDeThreads } from '@derrd/train';
import { info } from './output.js';

/** The threads a `de-threads` setting ('1', '2', 'auto' or unset) asks for; auto reads DERRD_DE_THREADS (refusing a bad value). */
export function deThreadsOf(value: unknown): 1 | 2 {
  return value === 'auto' || value === undefined ? deThreads() : (Number(value) as 1 | 2);
}

/** Sets the DE kernel's threads for the runs to come; with report (a DE run follows), logs which loops run on them. */
export function applyDeThreads(threads: 1 | 2, report: boolean): void {
  setDeThreads(threads);
  if (report) info(`DE kernel: ${describeMixtureLoops()} on ${threads} thread${threads > 1 ? 's' : ''}`);
}
