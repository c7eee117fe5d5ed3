-- AlterTable
ALTER TABLE "AgentEvent" ADD COLUMN "actor" TEXT;
ALTER TABLE "AgentEvent" ADD COLUMN "subject" TEXT;

-- CreateTable
CREATE TABLE "Container" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "image" TEXT NOT NULL,
    "imageDigest" TEXT NOT NULL,
    "config" TEXT NOT NULL,
    "spec" TEXT NOT NULL DEFAULT '{}',
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

-- CreateTable
CREATE TABLE "Intent" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "op" TEXT NOT NULL,
    "containerId" TEXT NOT NULL,
    "data" TEXT NOT NULL DEFAULT '{}',
    "at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "ContainerGroup" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "parent" TEXT,
    "limits" TEXT NOT NULL DEFAULT '{}',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "Volume" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "labels" TEXT NOT NULL DEFAULT '{}',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "Snapshot" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "containerId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE UNIQUE INDEX "Container_name_key" ON "Container"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Container_idBase_key" ON "Container"("idBase");

-- CreateIndex
CREATE UNIQUE INDEX "Snapshot_containerId_name_key" ON "Snapshot"("containerId", "name");

-- CreateIndex
CREATE INDEX "AgentEvent_subject_idx" ON "AgentEvent"("subject");
