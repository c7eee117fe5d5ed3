import type { HostFacts } from '@berth/contracts';
import { formatBytes, memoryUsed } from './format';

export function MemoryGauge({ memory }: { memory: HostFacts['memory'] }) {
  const used = memoryUsed(memory);
  const percent = Math.round(used * 100);
  const level = used > 0.9 ? 'high' : used > 0.7 ? 'mid' : 'low';
  return (
    <div className="gauge">
      {/* biome-ignore lint/a11y/useSemanticElements: a <meter> cannot be styled alike in every browser */}
      <div
        className="gauge-track"
        role="meter"
        aria-label="Memory in use"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
      >
        <div className={`gauge-fill ${level}`} style={{ width: `${percent}%` }} />
      </div>
      <div className="gauge-legend">
        <span>
          <strong>{formatBytes(memory.totalBytes - memory.availableBytes)}</strong> used of{' '}
          {formatBytes(memory.totalBytes)}
        </span>
        <span>{percent}%</span>
      </div>
    </div>
  );
}
