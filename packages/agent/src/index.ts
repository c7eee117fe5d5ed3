// berthd as a library (its tests, or a process that embeds the agent). Others talk to a
// running agent through '@berth/agent/client' only.
export { AGENT_DEFAULTS, type AgentConfig, type RunningAgent, startAgent } from './server.ts';
