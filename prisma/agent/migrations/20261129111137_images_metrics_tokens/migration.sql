-- CreateTable
CREATE TABLE "Image" (
    "digest" TEXT NOT NULL PRIMARY KEY,
    "record" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "source" TEXT NOT NULL,
    "addedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "ImageTag" (
    "reference" TEXT NOT NULL PRIMARY KEY,
    "digest" TEXT NOT NULL,
    CONSTRAINT "ImageTag_digest_fkey" FOREIGN KEY ("digest") REFERENCES "Image" ("digest") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "MetricRollup" (
    "target" TEXT NOT NULL,
    "minute" BIGINT NOT NULL,
    "samples" INTEGER NOT NULL,
    "cpuPercentAvg" REAL NOT NULL,
    "cpuPercentMax" REAL NOT NULL,
    "memoryAvg" REAL NOT NULL,
    "memoryMax" REAL NOT NULL,
    "pidsMax" INTEGER NOT NULL,
    "netRxBytes" REAL NOT NULL,
    "netTxBytes" REAL NOT NULL,
    "blockReadBytes" REAL NOT NULL,
    "blockWriteBytes" REAL NOT NULL,
    "psiCpuAvg" REAL,
    "psiMemoryAvg" REAL,
    "psiIoAvg" REAL,

    PRIMARY KEY ("target", "minute")
);

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" DATETIME
);

-- CreateIndex
CREATE INDEX "ImageTag_digest_idx" ON "ImageTag"("digest");

-- CreateIndex
CREATE INDEX "MetricRollup_minute_idx" ON "MetricRollup"("minute");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_name_key" ON "ApiToken"("name");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_hash_key" ON "ApiToken"("hash");
