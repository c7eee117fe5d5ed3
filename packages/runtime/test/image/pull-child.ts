// Run by pull.root.test.ts as a separate process that the test kills with SIGKILL mid-pull:
// `node --import tsx pull-child.ts <store dir> <reference> <insecure host>`.
import { ImageStore } from '../../src/image/store.ts';

const [dir, ref, insecure] = process.argv.slice(2) as [string, string, string];
const store = new ImageStore(dir, { registry: { insecure: [insecure] } });
await store.pull(ref, {
  onProgress: (e) => {
    if (e.type === 'layer' && e.phase === 'download')
      process.stdout.write(`download ${e.digest.slice(7, 19)} ${e.done}\n`);
  },
});
process.stdout.write('pulled\n');
