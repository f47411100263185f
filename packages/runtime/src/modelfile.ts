/**
 * Reading a model (or its id map) without letting the file hurt the process: only regular files (a FIFO would block
 * and /dev/zero never ends), a size cap checked before reading, and asynchronous reads, so a server keeps answering
 * while a reload reads.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { RuntimeError } from './feeds.js';

/** Default cap on a model file: far above any derrd model here (the CiteULike d=200 teacher is ~21 MB). */
export const DEFAULT_MAX_MODEL_BYTES = 2 ** 30;

const describe = (mode: number): string => {
  const kind = mode & constants.S_IFMT;
  if (kind === constants.S_IFDIR) return 'a directory';
  if (kind === constants.S_IFIFO) return 'a FIFO (named pipe)';
  if (kind === constants.S_IFCHR) return 'a character device';
  if (kind === constants.S_IFBLK) return 'a block device';
  if (kind === constants.S_IFSOCK) return 'a socket';
  return 'not a regular file';
};

/** The whole file, if it is a regular file of at most maxBytes; `what` names it in messages ("model file", "id map"). */
export async function readRegularFile(path: string, maxBytes: number, what: string): Promise<Uint8Array> {
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RuntimeError(`${path}: ${what} not found`);
    if (code === 'EACCES' || code === 'EPERM') throw new RuntimeError(`${path}: ${what} is not readable (permission denied)`);
    throw new RuntimeError(`${path}: cannot open the ${what} (${code ?? (err as Error).message})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new RuntimeError(`${path}: the ${what} is ${describe(stat.mode)}, expected a regular file`);
    if (stat.size > maxBytes) throw new RuntimeError(`${path}: the ${what} is ${stat.size.toLocaleString('en-US')} bytes, over the limit of ${maxBytes.toLocaleString('en-US')} bytes`);
    const bytes = new Uint8Array(stat.size);
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) throw new RuntimeError(`${path}: the ${what} shrank while it was read (being replaced?); try again`);
      filled += bytesRead;
    }
    return bytes;
  } finally {
    await handle.close();
  }
}
