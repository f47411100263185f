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

/** What a failing file-system call was doing, from Node's `syscall`. */
const ACTIONS: Record<string, string> = {
  open: 'open it', read: 'read it', write: 'write it', mkdir: 'create it', rename: 'rename it', unlink: 'remove it', rmdir: 'remove it',
  rm: 'remove it', scandir: 'list it', opendir: 'list it', stat: 'read its attributes', lstat: 'read its attributes', access: 'access it',
  copyfile: 'copy it', symlink: 'link it', chmod: 'change its permissions', utime: 'touch it',
};

/** The cause in words and what to do, for the errors a user can meet on their own files and disks. */
const CAUSES: Record<string, string> = {
  EACCES: 'permission denied: the user derrd runs as may not do this (check the permissions, or choose another path)',
  EPERM: 'operation not permitted (check the permissions and attributes, or choose another path)',
  EROFS: 'read-only file system: nothing can be written there (choose an output on a writable disk)',
  ENOSPC: 'no space left on the device (free some space, or choose an output on another disk)',
  EDQUOT: 'disk quota exceeded (free some space, or choose an output on another disk)',
  ENOTDIR: 'a part of this path is a file, not a directory',
  EISDIR: 'is a directory, expected a file',
  ENOENT: 'no such file or directory',
  EEXIST: 'already exists',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'too many symbolic links (a link loop?)',
  EMFILE: 'too many open files (raise the limit with ulimit -n)',
  ENFILE: 'too many open files on the system',
  EBUSY: 'the file or device is busy',
  EIO: 'input/output error (a failing disk or a network file system that went away)',
  EXDEV: 'cannot move across file systems',
  ETXTBSY: 'the file is busy',
};

/** Node's error for a failed file-system call (it carries `code`, `syscall` and usually `path`). */
export function isFsError(err: unknown): err is NodeJS.ErrnoException & { code: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).code! in CAUSES
    && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

/**
 * A file-system error as an InputError naming the path, what derrd tried and why it failed; any other error is
 * returned unchanged. `path` replaces Node's own when the caller knows which of the user's paths it was.
 */
export function fsInputError(err: unknown, path?: string): Error {
  if (!isFsError(err)) return err instanceof Error ? err : new Error(String(err));
  const file = path ?? err.path ?? (err as { dest?: string }).dest;
  const action = ACTIONS[err.syscall ?? ''] ?? `${err.syscall} it`;
  return new InputError(`cannot ${action}: ${CAUSES[err.code]}`, { file });
}
