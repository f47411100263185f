/** A problem with user-supplied input (a file, a flag, a directory). The CLI prints it as one line. */
export class InputError extends Error {
  readonly file?: string;
  readonly line?: number;
  constructor(problem: string, where: { file?: string; line?: number } = {}) {
    const prefix = where.file ? `${where.file}${where.line !== undefined ? `:${where.line}` : ''}: ` : '';
    super(prefix + problem);
    this.name = 'InputError';
    this.file = where.file;
    this.line = where.line;
  }
}
