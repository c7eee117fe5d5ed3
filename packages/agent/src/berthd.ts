import { Command, Option } from 'commander';
import { DEFAULT_CONFIG_FILE } from './config.ts';
import { AGENT_DEFAULTS, startAgent } from './server.ts';
import { AGENT_VERSION } from './version.ts';

// berthd: the host agent. Thin: parses flags, starts the agent, stops it on SIGTERM/SIGINT.

const program = new Command('berthd')
  .description('Berth host agent: serves the Berth API on a Unix socket. Runs as root.')
  .version(AGENT_VERSION)
  .addOption(
    new Option('--socket <path>', 'Unix socket to listen on')
      .env('BERTH_SOCKET')
      .default(AGENT_DEFAULTS.socketPath),
  )
  .addOption(
    new Option('--state-dir <dir>', "berthd's private state (its database); made mode 0700")
      .env('BERTHD_STATE_DIR')
      .default(AGENT_DEFAULTS.stateDir),
  )
  .addOption(
    new Option('--socket-group <group>', 'group (name or gid) allowed to use the socket; must exist')
      .env('BERTHD_SOCKET_GROUP')
      .default(AGENT_DEFAULTS.socketGroup),
  )
  .addOption(
    new Option(
      '--insecure-registry <host:port...>',
      'registries to pull from over plain HTTP (e.g. one on loopback)',
    )
      .env('BERTHD_INSECURE_REGISTRIES')
      .argParser((v: string, prev: string[] | undefined) => [
        ...(prev ?? []),
        ...v.split(',').filter(Boolean),
      ]),
  )
  .addOption(
    new Option(
      '--config <file>',
      'agent config (JSON policy: bind-mount allowlist, privileged, maximum limits)',
    )
      .env('BERTHD_CONFIG')
      .default(DEFAULT_CONFIG_FILE),
  )
  .addOption(
    new Option('--runtime-root <dir>', "the container runtime's state (monitors, console logs)").env(
      'BERTHD_RUNTIME_ROOT',
    ),
  )
  .addHelpText(
    'after',
    '\nExit status: 0 after a clean stop (SIGTERM, SIGINT), 1 when berthd cannot start or fails.',
  )
  .action(
    async (opts: {
      socket: string;
      stateDir: string;
      socketGroup: string;
      insecureRegistry?: string[];
      config: string;
      runtimeRoot?: string;
    }) => {
      // Everything berthd creates is root-only unless it says otherwise (the socket: 0660).
      process.umask(0o077);
      const agent = await startAgent({
        socketPath: opts.socket,
        stateDir: opts.stateDir,
        socketGroup: opts.socketGroup,
        insecureRegistries: opts.insecureRegistry ?? [],
        configFile: opts.config,
        ...(opts.runtimeRoot ? { runtimeRoot: opts.runtimeRoot } : {}),
      });
      const stop = (signal: string) => {
        console.error(`berthd: ${signal}, stopping`);
        agent.close().then(
          () => process.exit(0),
          (err: Error) => {
            console.error(`berthd: stopping failed: ${err.message}`);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      // Said only once the handlers are in place: whoever waits for this line may signal at once.
      console.error(`berthd ${AGENT_VERSION} listening on ${agent.socketPath} (group ${opts.socketGroup})`);
    },
  );

program.parseAsync().catch((err: Error) => {
  console.error(`berthd: ${err.message}`);
  process.exit(1);
});
