/**
 * The README's code blocks, for the tests that run them as written. Each fenced block is named by the comment on the
 * line above it, `<!-- readme: NAME (which test runs it) -->`; test/readme.test.ts checks that every block has a name
 * and that some test asks for each name.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const README = join(import.meta.dirname, '..', 'README.md');

export interface ReadmeBlock {
  /** null when the block has no `<!-- readme: NAME -->` line above it */
  name: string | null;
  lang: string;
  body: string;
  /** 1-based line of the opening fence */
  line: number;
}

export function readmeBlocks(text = readFileSync(README, 'utf8')): ReadmeBlock[] {
  const lines = text.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let k = 0; k < lines.length; k++) {
    const open = /^```(\w*)\s*$/.exec(lines[k]);
    if (!open) continue;
    const end = lines.indexOf('```', k + 1);
    if (end < 0) throw new Error(`README.md:${k + 1}: unclosed code block`);
    const marker = k > 0 ? /^<!-- readme: ([\w-]+)\b.*-->$/.exec(lines[k - 1]) : null;
    blocks.push({ name: marker ? marker[1] : null, lang: open[1], body: lines.slice(k + 1, end).join('\n'), line: k + 1 });
    k = end;
  }
  return blocks;
}

function block(name: string): ReadmeBlock {
  const found = readmeBlocks().filter((b) => b.name === name);
  if (found.length !== 1) throw new Error(`README.md has ${found.length} blocks named "${name}" (expected one <!-- readme: ${name} --> line above a code block)`);
  return found[0];
}

/** The commands of a shell block: continuation lines joined, `# comments` and blank lines dropped. */
export function readmeCommands(name: string): string[] {
  return block(name).body.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
}

/** The text of a code block (JavaScript for the API examples). */
export function readmeCode(name: string): string {
  return block(name).body + '\n';
}

/**
 * A shell command line as argv, for the simple quoting the README uses: words, and '…' strings (kept whole, quotes
 * removed). A redirect (`> file`) is returned apart.
 */
export function argvOf(line: string): { argv: string[]; redirect: string | null } {
  const words = [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
  const at = words.indexOf('>');
  return at >= 0 ? { argv: words.slice(0, at), redirect: words[at + 1] } : { argv: words, redirect: null };
}
