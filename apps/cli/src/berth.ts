import { AgentUnreachableError } from '@berth/agent/client';
import { CommanderError } from 'commander';
import { buildProgram, EXIT } from './program.ts';

// `berth`: thin commands over berthd's typed client. Errors end as one plain sentence on
// stderr and an exit status from EXIT (listed in `berth --help`).

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
    process.exitCode = EXIT.failure;
  });
