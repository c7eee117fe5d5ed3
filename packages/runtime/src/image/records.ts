// Image records: what the store knows about each image (its manifest digest is its identity).
// The agent mirrors them into its database through its own implementation of
// ImageRecordStore; FileImageRecordStore is the standalone, crash-safe one (a single JSON
// document replaced atomically, so a crash leaves the old or the new set of records).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageSummary } from '@berth/contracts';
import { z } from 'zod';
import { writeFileAtomic } from './atomic.ts';
import { type Digest, isDigest } from './digest.ts';
import { ImageError } from './errors.ts';

const digest = z
  .string()
  .refine(isDigest, { message: 'expected sha256:<64 lowercase hex digits>' }) as z.ZodType<Digest>;

export const ImageRecordSchema = ImageSummary.extend({
  digest,
  manifestMediaType: z.string(),
  configDigest: digest,
});
export type ImageRecord = z.infer<typeof ImageRecordSchema>;

export interface ImageRecordStore {
  list(): Promise<ImageRecord[]>;
  get(digest: Digest): Promise<ImageRecord | undefined>;
  /** The record a normalised reference points at. */
  byReference(reference: string): Promise<ImageRecord | undefined>;
  /**
   * Inserts or replaces `record`. In the same transaction, each of its references is taken
   * off any other record that had it (a tag points at one image at a time).
   */
  save(record: ImageRecord): Promise<void>;
  /** Takes a reference off whichever record has it; returns that record as it is now. */
  untag(reference: string): Promise<ImageRecord | undefined>;
  delete(digest: Digest): Promise<void>;
}

const FileSchema = z.object({ version: z.literal(1), images: z.array(ImageRecordSchema) });

export class FileImageRecordStore implements ImageRecordStore {
  private readonly file: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'images.json');
  }

  private load(): ImageRecord[] {
    if (!existsSync(this.file)) return [];
    const parsed = FileSchema.safeParse(JSON.parse(readFileSync(this.file, 'utf8')));
    if (!parsed.success) throw new ImageError('invalid_manifest', `${this.file}: ${parsed.error.message}`);
    return parsed.data.images;
  }

  /** Serialises read-modify-write cycles within this process. */
  private mutate<T>(fn: (images: ImageRecord[]) => { images: ImageRecord[]; result: T }): Promise<T> {
    const run = this.queue.then(() => {
      const { images, result } = fn(this.load());
      writeFileAtomic(this.file, `${JSON.stringify({ version: 1, images }, null, 1)}\n`, 0o600);
      return result;
    });
    this.queue = run.catch(() => {});
    return run;
  }

  async list(): Promise<ImageRecord[]> {
    await this.queue;
    return this.load();
  }

  async get(d: Digest): Promise<ImageRecord | undefined> {
    return (await this.list()).find((r) => r.digest === d);
  }

  async byReference(reference: string): Promise<ImageRecord | undefined> {
    return (await this.list()).find((r) => r.references.includes(reference));
  }

  async save(record: ImageRecord): Promise<void> {
    const parsed = ImageRecordSchema.safeParse(record);
    if (!parsed.success)
      throw new ImageError(
        'invalid_manifest',
        `record: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    const valid = parsed.data;
    return this.mutate((images) => {
      // References the image had before stay (the same image pulled under a second name keeps
      // its first); the record's own move here from whichever image had them.
      const before = images.find((r) => r.digest === valid.digest)?.references ?? [];
      const references = [...new Set([...before, ...valid.references])];
      const others = images
        .filter((r) => r.digest !== valid.digest)
        .map((r) => ({ ...r, references: r.references.filter((x) => !valid.references.includes(x)) }));
      return { images: [...others, { ...valid, references }], result: undefined };
    });
  }

  untag(reference: string): Promise<ImageRecord | undefined> {
    return this.mutate((images) => {
      let hit: ImageRecord | undefined;
      const next = images.map((r) => {
        if (!r.references.includes(reference)) return r;
        hit = { ...r, references: r.references.filter((x) => x !== reference) };
        return hit;
      });
      return { images: next, result: hit };
    });
  }

  delete(d: Digest): Promise<void> {
    return this.mutate((images) => ({ images: images.filter((r) => r.digest !== d), result: undefined }));
  }
}
