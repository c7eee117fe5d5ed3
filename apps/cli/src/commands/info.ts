import { createAgentClient } from '@berth/agent/client';
import { Command, Option } from 'commander';
import type { GlobalOptions } from '../program.ts';
import { formatHostFacts } from './info-format.ts';

export function infoCommand(): Command {
  return new Command('info')
    .description("the host's facts as berthd sees them: kernel, cgroups, namespaces, CPUs, memory, agent")
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts: { format: 'text' | 'json' }, cmd: Command) => {
      const { socket } = cmd.optsWithGlobals<GlobalOptions>();
      const facts = await createAgentClient({ socketPath: socket }).host.facts.query();
      process.stdout.write(
        opts.format === 'json' ? `${JSON.stringify(facts, null, 2)}\n` : formatHostFacts(facts),
      );
    });
}
