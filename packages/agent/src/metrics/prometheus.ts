import type { MetricsSampler } from './sampler.ts';

// The latest values in Prometheus' text exposition format (version 0.0.4), for `/metrics` on
// the TCP listener. Counters are the cumulative totals; gauges the last second's values.
// Every series carries id, name and kind (host, container, group).

interface Family {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
}

const FAMILIES = {
  cpu: {
    name: 'berth_cpu_usage_percent',
    type: 'gauge',
    help: 'CPU use over the last second (100 = one core)',
  },
  cpuTotal: { name: 'berth_cpu_seconds_total', type: 'counter', help: 'CPU time used' },
  mem: { name: 'berth_memory_usage_bytes', type: 'gauge', help: 'Memory in use' },
  memLimit: {
    name: 'berth_memory_limit_bytes',
    type: 'gauge',
    help: 'Memory limit (the host: its total memory)',
  },
  pids: { name: 'berth_pids', type: 'gauge', help: 'Processes (tasks on the host)' },
  rx: { name: 'berth_network_receive_bytes_total', type: 'counter', help: 'Bytes received' },
  tx: { name: 'berth_network_transmit_bytes_total', type: 'counter', help: 'Bytes sent' },
  rxPackets: {
    name: 'berth_network_receive_packets_total',
    type: 'counter',
    help: 'Packets received (containers on a bridge network)',
  },
  txPackets: {
    name: 'berth_network_transmit_packets_total',
    type: 'counter',
    help: 'Packets sent (containers on a bridge network)',
  },
  br: { name: 'berth_block_read_bytes_total', type: 'counter', help: 'Bytes read from block devices' },
  bw: { name: 'berth_block_write_bytes_total', type: 'counter', help: 'Bytes written to block devices' },
  psi: {
    name: 'berth_pressure_some_avg10_percent',
    type: 'gauge',
    help: 'Share of the last 10 s in which some task waited for the resource',
  },
} satisfies Record<string, Family>;

export function prometheusText(sampler: MetricsSampler): string {
  const lines = new Map<Family, string[]>();
  const put = (f: Family, labels: string, value: number) => {
    if (!Number.isFinite(value)) return;
    const list = lines.get(f) ?? [];
    lines.set(f, list);
    list.push(`${f.name}{${labels}} ${value}`);
  };
  for (const t of sampler.all()) {
    if (!t.ok) continue;
    const s = sampler.sampleOf(t);
    const c = sampler.totalsOf(t);
    const labels = `id="${esc(t.id)}",name="${esc(t.name)}",kind="${t.kind}"`;
    put(FAMILIES.cpu, labels, s.cpuPercent);
    put(FAMILIES.cpuTotal, labels, c.cpuUsec / 1e6);
    put(FAMILIES.mem, labels, s.memoryBytes);
    put(FAMILIES.memLimit, labels, s.memoryLimitBytes ?? Number.NaN);
    put(FAMILIES.pids, labels, s.pids);
    put(FAMILIES.rx, labels, c.rx);
    put(FAMILIES.tx, labels, c.tx);
    put(FAMILIES.rxPackets, labels, c.rxPackets);
    put(FAMILIES.txPackets, labels, c.txPackets);
    put(FAMILIES.br, labels, c.br);
    put(FAMILIES.bw, labels, c.bw);
    for (const r of ['cpu', 'memory', 'io'] as const)
      put(FAMILIES.psi, `${labels},resource="${r}"`, s.psi[r] ?? Number.NaN);
  }
  let out = '';
  for (const f of Object.values(FAMILIES)) {
    const list = lines.get(f);
    if (!list) continue;
    out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n${list.join('\n')}\n`;
  }
  return out;
}

/** A label value: backslash, double quote and newline escaped. */
function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
