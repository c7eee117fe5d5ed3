import type { Digest, ImageRecord, ImageRecordStore } from '@berth/runtime/image';
import { ImageRecordSchema } from '@berth/runtime/image';
import type Database from 'better-sqlite3';
import { type AgentDb, sqlOf } from '../db/index.ts';

// The image library's records, kept in the agent's database (tables Image and ImageTag) so
// they live beside the containers that use them. A reference points at one image at a time:
// saving an image takes its references off any other image in the same transaction. Saving
// adds references, never drops one (the library commits an image with only the reference
// it was just pulled or imported as); untag() removes them.

export class PrismaImageRecordStore implements ImageRecordStore {
  /** The lookups every container create makes (its image by reference), prepared once. */
  private lookups?: { byReference: Database.Statement; references: Database.Statement };

  constructor(private readonly db: AgentDb) {}

  async list(): Promise<ImageRecord[]> {
    const rows = await this.db.image.findMany({ include: { references: true }, orderBy: { addedAt: 'asc' } });
    return rows.map(toRecord);
  }

  async get(digest: Digest): Promise<ImageRecord | undefined> {
    const row = await this.db.image.findUnique({ where: { digest }, include: { references: true } });
    return row ? toRecord(row) : undefined;
  }

  async byReference(reference: string): Promise<ImageRecord | undefined> {
    // Asked by every container create: two statements instead of Prisma's nested include
    // (1-2 ms of a create here).
    const sql = sqlOf(this.db);
    this.lookups ??= {
      byReference: sql.connection.prepare(
        'SELECT i."digest", i."record" FROM "ImageTag" t JOIN "Image" i ON i."digest" = t."digest" WHERE t."reference" = ?',
      ),
      references: sql.connection.prepare('SELECT "reference" FROM "ImageTag" WHERE "digest" = ?').pluck(),
    };
    const { byReference, references } = this.lookups;
    return sql.read(() => {
      const row = byReference.get(reference) as { digest: string; record: string } | undefined;
      if (!row) return undefined;
      const refs = (references.all(row.digest) as string[]).map((r) => ({ reference: r }));
      return toRecord({ ...row, references: refs });
    });
  }

  async save(record: ImageRecord): Promise<void> {
    const valid = ImageRecordSchema.parse(record);
    const { references, ...rest } = valid;
    const columns = {
      record: JSON.stringify(rest),
      size: BigInt(Math.round(valid.size)),
      source: valid.source,
      addedAt: new Date(valid.addedAt),
    };
    await this.db.$transaction([
      this.db.image.upsert({
        where: { digest: valid.digest },
        create: { digest: valid.digest, ...columns },
        update: columns,
      }),
      // References the image had before stay (the same image pulled under a second name keeps
      // its first); the record's own move here from whichever image had them.
      this.db.imageTag.deleteMany({ where: { reference: { in: references } } }),
      this.db.imageTag.createMany({
        data: references.map((reference) => ({ reference, digest: valid.digest })),
      }),
    ]);
  }

  async untag(reference: string): Promise<ImageRecord | undefined> {
    const tag = await this.db.imageTag.findUnique({ where: { reference } });
    if (!tag) return undefined;
    await this.db.imageTag.delete({ where: { reference } });
    return this.get(tag.digest as Digest);
  }

  async delete(digest: Digest): Promise<void> {
    await this.db.image.deleteMany({ where: { digest } });
  }
}

function toRecord(row: {
  digest: string;
  record: string;
  references: Array<{ reference: string }>;
}): ImageRecord {
  const rest = JSON.parse(row.record) as Omit<ImageRecord, 'references'>;
  return { ...rest, digest: row.digest as Digest, references: row.references.map((r) => r.reference).sort() };
}
