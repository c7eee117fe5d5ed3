-- CreateTable
CREATE TABLE "AgentMeta" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "AgentEvent" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "kind" TEXT NOT NULL,
    "data" TEXT NOT NULL DEFAULT '{}'
);

-- CreateIndex
CREATE INDEX "AgentEvent_at_idx" ON "AgentEvent"("at");
