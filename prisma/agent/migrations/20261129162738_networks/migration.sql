-- CreateTable
CREATE TABLE "Network" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "bridge" TEXT NOT NULL,
    "subnet" TEXT NOT NULL,
    "gateway" TEXT NOT NULL,
    "subnet6" TEXT,
    "gateway6" TEXT,
    "mtu" INTEGER NOT NULL,
    "isolated" BOOLEAN NOT NULL,
    "domain" TEXT NOT NULL,
    "ipamCursor" TEXT NOT NULL,
    "createdAt" TEXT NOT NULL
);

-- CreateTable
CREATE TABLE "NetworkEndpoint" (
    "containerId" TEXT NOT NULL PRIMARY KEY,
    "network" TEXT NOT NULL,
    "hostIf" TEXT NOT NULL,
    "ip" TEXT NOT NULL,
    "ip6" TEXT,
    "mac" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "aliases" TEXT NOT NULL,
    "ports" TEXT NOT NULL,
    "rateLimit" TEXT,
    "createdAt" TEXT NOT NULL,
    CONSTRAINT "NetworkEndpoint_network_fkey" FOREIGN KEY ("network") REFERENCES "Network" ("name") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "NetworkSavedSysctl" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "Network_bridge_key" ON "Network"("bridge");

-- CreateIndex
CREATE UNIQUE INDEX "NetworkEndpoint_hostIf_key" ON "NetworkEndpoint"("hostIf");

-- CreateIndex
CREATE UNIQUE INDEX "NetworkEndpoint_network_ip_key" ON "NetworkEndpoint"("network", "ip");

-- CreateIndex
CREATE UNIQUE INDEX "NetworkEndpoint_network_ip6_key" ON "NetworkEndpoint"("network", "ip6");

-- CreateIndex
CREATE UNIQUE INDEX "NetworkEndpoint_network_mac_key" ON "NetworkEndpoint"("network", "mac");
