import { cli } from './cli.ts';

cli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    process.stderr.write(`berth-runtime: ${e.message}\n`);
    process.exitCode = 1;
  },
);
