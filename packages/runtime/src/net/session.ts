// A long-lived `ip -force -batch -` or `nft -i` process that takes commands on stdin, so a
// container's attach does not pay a process start (slow here: 2.5-6 ms each for ip, 5-40 ms for
// nft with its libraries, measured in bench/net.ts) per tool.
//
// Neither tool says when a command is done, but both report errors on stderr, unbuffered and
// in order. So every request is followed by a marker command that always fails, naming a
// unique token: when the marker's error arrives, everything the request caused has been
// reported, and any other error text since the previous marker is the request's own.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { NetError } from './errors.ts';

export interface SessionTool {
  cmd: string;
  args: string[];
  /** A command that fails naming `token` (an invalid name nothing can have). */
  marker: (token: string) => string;
  /** How one request's commands are joined (nft: one line = one transaction). */
  join: string;
}

export const IP_TOOL: SessionTool = {
  cmd: 'ip',
  args: ['-force', '-batch', '-'],
  marker: (t) => `link show dev ${t}`,
  join: '\n',
};

export const NFT_TOOL: SessionTool = {
  cmd: 'nft',
  args: ['-i'],
  marker: (t) => `list table inet ${t}`,
  join: '; ',
};

interface Pending {
  token: string;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class ToolSession {
  private child?: ChildProcessWithoutNullStreams;
  private readonly pending: Pending[] = [];
  private seq = 0;
  private partial = '';
  private errText: string[] = [];
  /** Caret lines still to come from the last marker's error (nft). */
  private skipNext = 0;

  constructor(
    readonly tool: SessionTool,
    private readonly timeoutMs = 10_000,
  ) {}

  /** Runs commands (ip: one per entry; nft: all entries as one transaction). */
  exec(commands: string[]): Promise<void> {
    if (commands.some((c) => /[\n\r]/.test(c)))
      throw new NetError('invalid_argument', 'command with a line break');
    if (commands.length === 0) return Promise.resolve();
    const child = this.start();
    const token = `.bsync${process.pid}x${++this.seq}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new NetError('kernel', `${this.tool.cmd}: no answer in ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      this.pending.push({ token, resolve, reject, timer });
      child.stdin.write(`${commands.join(this.tool.join)}\n${this.tool.marker(token)}\n`);
    });
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn(this.tool.cmd, this.tool.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.resume(); // output is not used; keep the pipe drained
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => this.onStderr(d));
    child.stdin.on('error', () => {});
    child.on('error', (e) => this.fail(new NetError('unavailable', `${this.tool.cmd}: ${e.message}`)));
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      this.fail(new NetError('kernel', `${this.tool.cmd} exited (${signal ?? code})`));
    });
    // An idle session must not keep the process alive.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr])
      (s as unknown as { unref?: () => void }).unref?.();
    this.child = child;
    return child;
  }

  private onStderr(data: string): void {
    const lines = (this.partial + data).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      if (this.skipNext > 0 && /^\s*\^+\s*$/.test(line)) {
        this.skipNext--;
        continue;
      }
      this.skipNext = 0;
      const head = this.pending[0];
      if (head && line.includes(head.token)) {
        this.finish(head);
        continue;
      }
      this.errText.push(line);
    }
  }

  /** The marker of `p` arrived: drop the marker's own error lines and settle `p`. */
  private finish(p: Pending): void {
    this.pending.shift();
    clearTimeout(p.timer);
    // ip: `Device "<token>" does not exist.` (this line) then `Command failed -:N`;
    // nft: `Error: ...` (before this line), this line, then a line of carets.
    if (this.tool === NFT_TOOL) this.errText.pop();
    const text = this.errText.filter((l) => l.trim() !== '' && !/^Command failed -:\d+$/.test(l)).join('\n');
    this.errText = [];
    this.skipNext = this.tool === NFT_TOOL ? 1 : 0;
    if (text) p.reject(new NetError('kernel', `${this.tool.cmd}: ${text}`));
    else p.resolve();
  }

  private fail(e: Error): void {
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    this.errText = [];
    this.partial = '';
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }

  close(): void {
    const child = this.child;
    this.child = undefined;
    this.fail(new NetError('unavailable', `${this.tool.cmd} session closed`));
    child?.kill('SIGKILL');
  }
}
