import type { HostFacts, NamespaceKind } from '@berth/contracts';
import { formatUptime } from './format';
import { MemoryGauge } from './memory-gauge';

const namespaceKinds: NamespaceKind[] = ['mnt', 'pid', 'net', 'ipc', 'uts', 'user', 'cgroup', 'time'];
const cgroupModeLabel = { v1: 'cgroup v1', v2: 'cgroup v2 (unified)', hybrid: 'hybrid (v1 + v2)' } as const;

export function HostFactsView({ facts }: { facts: HostFacts }) {
  const offered = new Set(facts.namespaces);
  return (
    <div className="grid" data-testid="host-facts">
      <section className="card">
        <h2>Kernel</h2>
        <p className="big" data-testid="kernel">
          {facts.kernelRelease}
        </p>
        <p className="muted">
          {facts.hostname} · {facts.architecture}
        </p>
      </section>
      <section className="card">
        <h2>Cgroups</h2>
        <p className="big" data-testid="cgroup-mode">
          {cgroupModeLabel[facts.cgroup.mode]}
        </p>
        <p className="muted">
          {facts.cgroup.v2
            ? `v2 at ${facts.cgroup.v2.mountPoint} (${facts.cgroup.v2.controllers.join(', ') || 'no controllers'})`
            : 'no cgroup2 mount'}
          {Object.keys(facts.cgroup.v1).length > 0 &&
            ` · v1: ${Object.keys(facts.cgroup.v1).sort().join(', ')}`}
        </p>
      </section>
      <section className="card">
        <h2>CPUs</h2>
        <p className="big" data-testid="cpus">
          {facts.cpus}
        </p>
        <p className="muted">online</p>
      </section>
      <section className="card">
        <h2>Agent</h2>
        <p className="big" data-testid="agent-version">
          berthd {facts.agent.version}
        </p>
        <p className="muted" data-testid="agent-uptime">
          up {formatUptime(facts.agent.uptimeSeconds)}
        </p>
      </section>
      <section className="card wide">
        <h2>Memory</h2>
        <MemoryGauge memory={facts.memory} />
      </section>
      <section className="card wide">
        <h2>Namespaces</h2>
        <ul className="chips" data-testid="namespaces">
          {namespaceKinds.map((kind) => (
            <li
              key={kind}
              className={offered.has(kind) ? 'chip on' : 'chip off'}
              title={offered.has(kind) ? 'offered' : 'not offered'}
            >
              {kind}
            </li>
          ))}
        </ul>
        {facts.maxUserNamespaces === 0 && <p className="muted">user namespaces are switched off</p>}
      </section>
    </div>
  );
}
