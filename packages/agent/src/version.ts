import pkg from '../package.json' with { type: 'json' };

/** berthd's version: the agent package's version (tsup inlines it into the bundle). */
export const AGENT_VERSION: string = pkg.version;
