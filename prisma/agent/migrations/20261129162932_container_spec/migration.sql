-- CreateTable
CREATE TABLE "ContainerSpec" (
    "containerId" TEXT NOT NULL PRIMARY KEY,
    "spec" TEXT NOT NULL,
    CONSTRAINT "ContainerSpec_containerId_fkey" FOREIGN KEY ("containerId") REFERENCES "Container" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- The specs move out of the Container rows (written by hand; berthd's migrator turns foreign
-- keys off around a migration, so the DROP below cascades to nothing).
INSERT INTO "ContainerSpec" ("containerId", "spec") SELECT "id", "spec" FROM "Container";

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Container" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "image" TEXT NOT NULL,
    "imageDigest" TEXT NOT NULL,
    "config" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "groupName" TEXT,
    "restartPolicy" TEXT NOT NULL DEFAULT 'no',
    "autostart" BOOLEAN NOT NULL DEFAULT false,
    "autostartOrder" INTEGER NOT NULL DEFAULT 0,
    "labels" TEXT NOT NULL DEFAULT '{}',
    "idBase" INTEGER,
    "exitCode" INTEGER,
    "restartCount" INTEGER NOT NULL DEFAULT 0,
    "stoppedByUser" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" DATETIME,
    "finishedAt" DATETIME,
    "updatedAt" DATETIME NOT NULL
);
INSERT INTO "new_Container" ("autostart", "autostartOrder", "config", "createdAt", "exitCode", "finishedAt", "groupName", "id", "idBase", "image", "imageDigest", "labels", "name", "restartCount", "restartPolicy", "startedAt", "state", "stoppedByUser", "updatedAt") SELECT "autostart", "autostartOrder", "config", "createdAt", "exitCode", "finishedAt", "groupName", "id", "idBase", "image", "imageDigest", "labels", "name", "restartCount", "restartPolicy", "startedAt", "state", "stoppedByUser", "updatedAt" FROM "Container";
DROP TABLE "Container";
ALTER TABLE "new_Container" RENAME TO "Container";
CREATE UNIQUE INDEX "Container_name_key" ON "Container"("name");
CREATE UNIQUE INDEX "Container_idBase_key" ON "Container"("idBase");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
