import type { NetworkRecord } from './state.ts';

/** A network record for unit tests (gateway: the first host address). */
export const testNetwork = (
  name: string,
  bridge: string,
  subnet: string,
  extra: Partial<NetworkRecord> = {},
): NetworkRecord => ({
  name,
  bridge,
  subnet,
  gateway: subnet.replace(/0\/\d+$/, '1'),
  mtu: 1500,
  isolated: false,
  domain: 'berth.internal',
  ipamCursor: '1',
  createdAt: '',
  ...extra,
});
