import { DEFAULT_AGENT_SOCKET } from '@berth/agent/client';
import { Command, Option } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { containerCommands } from './commands/containers.ts';
import { imageCommand } from './commands/image.ts';
import { infoCommand } from './commands/info.ts';
import { networkCommand } from './commands/network.ts';
import { eventsCommand, groupCommand, volumeCommand } from './commands/resources.ts';
import { statsCommand } from './commands/stats.ts';
import { terminalCommands } from './commands/terminal.ts';

export const EXIT = {
  ok: 0,
  /** The agent answered with an error, or something else failed. */
  failure: 1,
  /** Bad usage: unknown command or option, invalid value. */
  usage: 2,
  /** berthd is not reachable on its socket. */
  unreachable: 3,
  /** No such container, group, volume or snapshot. */
  notFound: 4,
  /** Refused in the current state (e.g. deleting a running container), or it exists already. */
  conflict: 5,
  /** The agent's policy does not allow it (privileged, bind mount outside the allowlist, limits above the maximum). */
  forbidden: 6,
} as const;

export interface GlobalOptions {
  socket: string;
}

/** The whole command tree; each command lives in commands/<name>.ts. */
export function buildProgram(): Command {
  const program = new Command('berth')
    .description('Berth: containers on a shared Linux host, driven through the host agent berthd.')
    .version(pkg.version)
    .addOption(
      new Option('--socket <path>', "berthd's Unix socket").env('BERTH_SOCKET').default(DEFAULT_AGENT_SOCKET),
    )
    .exitOverride()
    .showHelpAfterError('(run berth --help for usage)')
    .addHelpText(
      'after',
      `
Exit status:
  ${EXIT.ok}  success
  ${EXIT.failure}  the agent answered with an error, or the command failed
  ${EXIT.usage}  bad usage (unknown command or option, invalid value)
  ${EXIT.unreachable}  the agent is unreachable ("agent unreachable at <socket>" on stderr)
  ${EXIT.notFound}  no such container, group, volume, network or snapshot
  ${EXIT.conflict}  not possible in the current state, or the name is taken
  ${EXIT.forbidden}  the agent's policy does not allow it
  berth exec and berth shell exit with the command's own status.`,
    );
  for (const command of [
    infoCommand(),
    imageCommand(),
    ...containerCommands(),
    ...terminalCommands(),
    volumeCommand(),
    networkCommand(),
    groupCommand(),
    eventsCommand(),
    statsCommand(),
  ]) {
    // Subcommands made apart from the program inherit its exit override and error help.
    inherit(command, program);
    program.addCommand(command);
  }
  return program;
}

/** Subcommands made apart from the program, and theirs, take its exit override and error help. */
function inherit(command: Command, from: Command) {
  command.copyInheritedSettings(from);
  for (const sub of command.commands) inherit(sub, command);
}
