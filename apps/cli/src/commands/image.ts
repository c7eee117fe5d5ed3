import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createAgentClient, exportImageArchive, importImageArchive } from '@berth/agent/client';
import type { ImageInfo, ImageProgressEvent } from '@berth/contracts';
import { Command, Option } from 'commander';
import { printJson } from '../output/json.ts';
import { progressView } from '../output/progress.ts';
import { table } from '../output/table.ts';
import { ago, bytes } from '../output/units.ts';
import type { GlobalOptions } from '../program.ts';
import { followSubscription } from '../subscribe.ts';

// `berth image …`: images in berthd's store. Thin: each subcommand is one API call plus its
// output (progress bars on a terminal, lines elsewhere, JSON with --format json).

const formatOption = () =>
  new Option('--format <format>', 'output format').choices(['text', 'json']).default('text');
const actor = () => `cli:${process.env.SUDO_USER ?? process.env.USER ?? process.getuid?.() ?? 'unknown'}`;
const socketOf = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>().socket;

export function imageCommand(): Command {
  const image = new Command('image').description(
    'images in the host store: pull, import, export, build, list, remove',
  );

  image
    .command('pull')
    .description('pull an image from its registry (e.g. docker.io/library/alpine:3.20)')
    .argument('<reference>')
    .option('--platform <os/arch[/variant]>', "platform to pull from an index (default: this host's)")
    .addOption(formatOption())
    .action(async (reference: string, opts: { platform?: string; format: string }, cmd: Command) => {
      const image = await followProgress(cmd, opts.format, (client) => client.image.pull, {
        reference,
        ...(opts.platform ? { platform: opts.platform } : {}),
        actor: actor(),
      });
      done(opts.format, image, `pulled ${image.references[0] ?? reference} ${image.digest}`);
    });

  image
    .command('import')
    .description('import an OCI image layout (directory or tar) or a `docker save` tar ("-" for stdin)')
    .argument('<archive>')
    .option('--reference <ref>', 'reference to give the image (needed to pick one of several)')
    .option('--platform <os/arch[/variant]>', 'platform to pick from a multi-platform layout')
    .addOption(formatOption())
    .action(
      async (
        archive: string,
        opts: { reference?: string; platform?: string; format: string },
        cmd: Command,
      ) => {
        const body = archiveStream(archive);
        const images = await importImageArchive(socketOf(cmd), body, {
          ...(opts.reference ? { reference: opts.reference } : {}),
          ...(opts.platform ? { platform: opts.platform } : {}),
          actor: actor(),
        });
        if (opts.format === 'json') return printJson(images);
        for (const i of images)
          process.stdout.write(`imported ${i.references[0] ?? '<untagged>'} ${i.digest}\n`);
      },
    );

  image
    .command('export')
    .description('write an image as an OCI image layout tar')
    .argument('<image>')
    .requiredOption('-o, --output <file>', 'file to write ("-" for stdout)')
    .action(async (name: string, opts: { output: string }, cmd: Command) => {
      const exported = await exportImageArchive(socketOf(cmd), name);
      try {
        if (opts.output === '-') {
          await pipeline(exported.body, process.stdout);
        } else {
          // Written beside the target and renamed: a failed export leaves no partial file.
          const tmp = `${opts.output}.partial-${process.pid}`;
          try {
            await pipeline(exported.body, createWriteStream(tmp, { mode: 0o644 }));
            await rename(tmp, opts.output);
          } catch (err) {
            await rm(tmp, { force: true });
            throw err;
          }
          process.stderr.write(`exported ${name} ${exported.digest} to ${opts.output}\n`);
        }
      } finally {
        await exported.done();
      }
    });

  image
    .command('build-debian')
    .description(
      "build a Debian system image with debootstrap from the agent's mirror (cached by its options)",
    )
    .option('--suite <suite>', 'Debian suite', 'bookworm')
    .addOption(
      new Option('--variant <variant>', 'debootstrap variant')
        .choices(['minbase', 'buildd'])
        .default('minbase'),
    )
    .option('--include <packages>', 'comma-separated packages (default: systemd, systemd-sysv, dbus)')
    .option('--arch <arch>', "Debian architecture (default: this host's)")
    .option('--reference <ref>', 'reference of the image (default: berth.local/debian:<suite>)')
    .option('--rebuild', 'build even when a cached image matches')
    .addOption(formatOption())
    .action(
      async (
        opts: {
          suite: string;
          variant: string;
          include?: string;
          arch?: string;
          reference?: string;
          rebuild?: boolean;
          format: string;
        },
        cmd: Command,
      ) => {
        const image = await followProgress(cmd, opts.format, (client) => client.image.buildDebian, {
          suite: opts.suite,
          variant: opts.variant,
          ...(opts.include ? { include: opts.include.split(',').filter(Boolean) } : {}),
          ...(opts.arch ? { arch: opts.arch } : {}),
          ...(opts.reference ? { reference: opts.reference } : {}),
          rebuild: opts.rebuild === true,
          actor: actor(),
        });
        done(opts.format, image, `built ${image.references[0] ?? ''} ${image.digest}`);
      },
    );

  image
    .command('ls')
    .description('list the images in the store')
    .addOption(formatOption())
    .action(async (opts: { format: string }, cmd: Command) => {
      const images = await createAgentClient({ socketPath: socketOf(cmd) }).image.list.query();
      if (opts.format === 'json') return printJson(images);
      process.stdout.write(formatImageList(images));
    });

  image
    .command('inspect')
    .description("an image's record: references, platform, config, layers")
    .argument('<image>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      printJson(await createAgentClient({ socketPath: socketOf(cmd) }).image.inspect.query({ image: name }));
    });

  image
    .command('rm')
    .description('remove images (refused while a container uses one)')
    .argument('<image...>')
    .action(async (names: string[], _opts: unknown, cmd: Command) => {
      const client = createAgentClient({ socketPath: socketOf(cmd) });
      for (const name of names) {
        const r = await client.image.remove.mutate({ image: name, actor: actor() });
        for (const u of r.untagged) process.stdout.write(`untagged ${u}\n`);
        if (r.deleted) process.stdout.write(`deleted ${r.deleted}\n`);
      }
    });

  image
    .command('prune')
    .description('remove unused layers and blobs, and images no reference or container uses')
    .option('--keep-untagged', 'keep images without a reference')
    .addOption(formatOption())
    .action(async (opts: { keepUntagged?: boolean; format: string }, cmd: Command) => {
      const r = await createAgentClient({ socketPath: socketOf(cmd) }).image.prune.mutate({
        dangling: !opts.keepUntagged,
        actor: actor(),
      });
      if (opts.format === 'json') return printJson(r);
      process.stdout.write(
        `removed ${r.images.length} images, ${r.layers.length} layers, ${r.blobs.length} blobs\n`,
      );
    });

  image
    .command('login')
    .description('store credentials for a registry (basic auth; kept root-only by berthd)')
    .argument('<registry>', 'host[:port]')
    .requiredOption('-u, --username <user>')
    .option('--password-stdin', 'read the password from stdin (otherwise: BERTH_REGISTRY_PASSWORD)')
    .action(async (registry: string, opts: { username: string; passwordStdin?: boolean }, cmd: Command) => {
      const password = opts.passwordStdin
        ? (await readStdin()).replace(/\r?\n$/, '')
        : process.env.BERTH_REGISTRY_PASSWORD;
      if (!password)
        throw new Error('give the password on stdin with --password-stdin or in BERTH_REGISTRY_PASSWORD');
      await createAgentClient({ socketPath: socketOf(cmd) }).image.login.mutate({
        registry,
        username: opts.username,
        password,
        actor: actor(),
      });
      process.stdout.write(`credentials for ${registry} stored\n`);
    });

  image
    .command('logout')
    .description('forget the credentials of a registry')
    .argument('<registry>')
    .action(async (registry: string, _opts: unknown, cmd: Command) => {
      await createAgentClient({ socketPath: socketOf(cmd) }).image.logout.mutate({
        registry,
        actor: actor(),
      });
      process.stdout.write(`credentials for ${registry} removed\n`);
    });

  return image;
}

type Client = ReturnType<typeof createAgentClient>;

/** Follows a progress subscription, drawing it on stderr; the `done` event's image. */
export async function followProgress(
  cmd: Command,
  format: string,
  procedure: (client: Client) => unknown,
  input: unknown,
): Promise<ImageInfo> {
  const socket = socketOf(cmd);
  const view = format === 'json' ? undefined : progressView(process.stderr);
  let image: ImageInfo | undefined;
  let failure: string | undefined;
  await followSubscription<ImageProgressEvent>(
    procedure(createAgentClient({ socketPath: socket })),
    input,
    socket,
    (e) => {
      if (e.type === 'done') image = e.image;
      else if (e.type === 'error') failure = e.message;
      else view?.update(e);
    },
  );
  view?.finish();
  if (failure !== undefined) throw new Error(failure);
  if (!image) throw new Error('berthd ended the operation without a result');
  return image;
}

function done(format: string, image: ImageInfo, sentence: string) {
  if (format === 'json') printJson(image);
  else process.stdout.write(`${sentence}\n`);
}

export function formatImageList(images: ImageInfo[], now = Date.now()): string {
  const rows = images.flatMap((i) => {
    const refs = i.references.length > 0 ? i.references : ['<none>'];
    return refs.map((r) => [
      r,
      i.digest.slice(7, 19),
      bytes(i.size),
      i.source,
      ago(i.addedAt, now),
      i.usedBy.length > 0 ? String(i.usedBy.length) : '-',
    ]);
  });
  return table(['REFERENCE', 'DIGEST', 'SIZE', 'SOURCE', 'ADDED', 'CONTAINERS'], rows);
}

/** A tar stream of the archive: the file itself, stdin, or a directory packed with tar(1). */
function archiveStream(archive: string): NodeJS.ReadableStream & import('node:stream').Readable {
  if (archive === '-') return process.stdin;
  if (!existsSync(archive)) throw new Error(`archive ${archive}: no such file or directory`);
  if (!statSync(archive).isDirectory()) return createReadStream(archive);
  const tar = spawn('tar', ['-C', archive, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
  tar.once('exit', (code) => {
    if (code !== 0) tar.stdout.destroy(new Error(`tar of ${archive} failed (exit ${code})`));
  });
  return tar.stdout;
}

async function readStdin(): Promise<string> {
  let s = '';
  for await (const c of process.stdin) s += c;
  return s;
}
