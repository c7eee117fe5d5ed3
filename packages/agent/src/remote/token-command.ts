import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { type AgentDb, openAgentDb } from '../db/index.ts';
import { AgentError } from '../errors.ts';
import { TokenStore } from './tokens.ts';

// `berthd token create|ls|revoke`: bearer tokens for the TCP listener, managed on the host
// (as root) in berthd's database, whether berthd is running or not. A revoked token stops
// working at the running berthd's next request.

export function tokenCommand(stateDir: () => string): Command {
  const withStore = async (fn: (tokens: TokenStore) => Promise<void>) => {
    process.umask(0o077);
    let db: AgentDb | undefined;
    try {
      mkdirSync(stateDir(), { recursive: true, mode: 0o700 });
      db = await openAgentDb(join(stateDir(), 'agent.db'));
      await fn(new TokenStore(db));
    } catch (err) {
      // Plain words and status 1 for what the person can fix (a duplicate name, no such token).
      if (err instanceof AgentError) {
        console.error(`berthd token: ${err.message}`);
        process.exitCode = 1;
        return;
      }
      throw err;
    } finally {
      await db?.$disconnect();
    }
  };
  const token = new Command('token').description('bearer tokens for the TCP listener (remote panels)');
  token
    .command('create')
    .description('make a token and print it (shown this once; only its hash is kept)')
    .requiredOption('--name <name>', 'what the token is for, e.g. panel-eu1')
    .action((opts: { name: string }) =>
      withStore(async (tokens) => {
        const { token: secret, info } = await tokens.create(opts.name);
        console.error(`token ${info.name} (id ${info.id}) created; it is shown only now:`);
        process.stdout.write(`${secret}\n`);
      }),
    );
  token
    .command('ls')
    .description('list tokens (names, ids, when made and last used; never the tokens)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action((opts: { format: string }) =>
      withStore(async (tokens) => {
        const list = await tokens.list();
        if (opts.format === 'json') {
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          return;
        }
        const rows = [
          ['ID', 'NAME', 'CREATED', 'LAST USED'],
          ...list.map((t) => [t.id, t.name, t.createdAt, t.lastUsedAt ?? '-']),
        ];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows)
          process.stdout.write(
            `${r
              .map((c, i) => c.padEnd(widths[i]!))
              .join('   ')
              .trimEnd()}\n`,
          );
      }),
    );
  token
    .command('revoke')
    .description('revoke a token by name or id (effective at the next request)')
    .argument('<name-or-id>')
    .action((nameOrId: string) =>
      withStore(async (tokens) => {
        const info = await tokens.revoke(nameOrId);
        process.stdout.write(`revoked token ${info.name} (id ${info.id})\n`);
      }),
    );
  return token;
}
