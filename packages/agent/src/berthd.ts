import { Command, Option } from 'commander';
import { DEFAULT_CONFIG_FILE } from './config.ts';
import { tokenCommand } from './remote/token-command.ts';
import { AGENT_DEFAULTS, startAgent } from './server.ts';
import { AGENT_VERSION } from './version.ts';

// berthd: the host agent. Thin: parses flags, starts the agent, stops it on SIGTERM/SIGINT.

interface AgentOptions {
  socket: string;
  stateDir: string;
  socketGroup: string;
  insecureRegistry?: string[];
  listen?: string;
  tlsCert?: string;
  tlsKey?: string;
  debianMirror?: string;
  config: string;
  runtimeRoot?: string;
}

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
  .addOption(
    new Option('--debian-mirror <url>', 'Debian mirror for `berth image build-debian`').env(
      'BERTHD_DEBIAN_MIRROR',
    ),
  )
  .addOption(
    new Option(
      '--listen <host:port>',
      'also serve on TCP with TLS, every request with a bearer token (e.g. 0.0.0.0:7443)',
    ).env('BERTHD_LISTEN'),
  )
  .addOption(
    new Option(
      '--tls-cert <file>',
      "the TCP listener's certificate (PEM); default: self-signed, made at first start",
    ).env('BERTHD_TLS_CERT'),
  )
  .addOption(new Option('--tls-key <file>', "the certificate's private key (PEM)").env('BERTHD_TLS_KEY'))
  .addHelpText(
    'after',
    '\nExit status: 0 after a clean stop (SIGTERM, SIGINT), 1 when berthd cannot start or fails.',
  )
  .action(async (opts: AgentOptions) => {
    // Everything berthd creates is root-only unless it says otherwise (the socket: 0660).
    process.umask(0o077);
    const agent = await startAgent({
      socketPath: opts.socket,
      stateDir: opts.stateDir,
      socketGroup: opts.socketGroup,
      insecureRegistries: opts.insecureRegistry ?? [],
      ...(opts.listen ? { listen: opts.listen } : {}),
      ...(opts.debianMirror ? { debianMirror: opts.debianMirror } : {}),
      ...(opts.tlsCert ? { tlsCert: opts.tlsCert } : {}),
      ...(opts.tlsKey ? { tlsKey: opts.tlsKey } : {}),
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
    if (agent.remote) console.error(`berthd: ${agent.remote.notice}`);
    // Said only once the handlers are in place: whoever waits for this line may signal at once.
    console.error(`berthd ${AGENT_VERSION} listening on ${agent.socketPath} (group ${opts.socketGroup})`);
  });

program.addCommand(tokenCommand(() => program.opts<AgentOptions>().stateDir));

// A socket to a container's monitor can break when the container exits at that moment (the
// runtime's monitor client writes before anyone listens for its errors): that must not take
// berthd, and with it every API call, down. Anything else unexpected still stops berthd.
process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE' || err.code === 'ECONNRESET') {
    console.error(`berthd: ignored a broken monitor connection: ${err.message}`);
    return;
  }
  console.error(`berthd: ${err.stack ?? err.message}`);
  process.exit(1);
});

program.parseAsync().catch((err: Error) => {
  console.error(`berthd: ${err.message}`);
  process.exit(1);
});
