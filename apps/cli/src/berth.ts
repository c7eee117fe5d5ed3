import { AgentUnreachableError } from '@berth/agent/client';
import { CommanderError } from 'commander';
import { UsageError } from './client.ts';
import { buildProgram, EXIT } from './program.ts';

// `berth`: thin commands over berthd's typed client. Errors end as one plain sentence on
// stderr and an exit status from EXIT (listed in `berth --help`).

// A reader that went away (`berth stats --format json | head`) ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
  throw err;
});

buildProgram()
  .parseAsync()
  .catch((err: unknown) => {
    if (err instanceof CommanderError) {
      // Commander has printed help, the version or the usage error already.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    if (err instanceof AgentUnreachableError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = EXIT.unreachable;
      return;
    }
    process.stderr.write(`berth: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = exitCodeOf(err);
  });

/** The exit status for an error: the agent's Berth code decides (see EXIT). */
function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return EXIT.usage;
  // By shape, not class: the bundle may hold more than one copy of @trpc/client.
  const code = (err as { data?: { berthCode?: string } } | undefined)?.data?.berthCode;
  switch (code) {
    case 'INVALID_INPUT':
      return EXIT.usage;
    case 'NOT_FOUND':
      return EXIT.notFound;
    case 'CONFLICT':
      return EXIT.conflict;
    case 'FORBIDDEN':
      return EXIT.forbidden;
    default:
      return EXIT.failure;
  }
}
