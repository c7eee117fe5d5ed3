import { AgentUnreachableError } from '@berth/agent/client';

// A tRPC subscription the CLI follows to its end: resolves when the agent completes it,
// rejects on its error. The client would keep reconnecting to an agent that is not there;
// a command fails instead ("agent unreachable at <socket>").

interface Subscribable<T> {
  subscribe(
    input: never,
    opts: {
      onData(value: T): void;
      onError(err: unknown): void;
      onComplete(): void;
      onConnectionStateChange?(state: { state: string; error: unknown }): void;
    },
  ): { unsubscribe(): void };
}

export function followSubscription<T>(
  procedure: { subscribe: Subscribable<T>['subscribe'] } | unknown,
  input: unknown,
  socketPath: string,
  onData: (value: T) => void,
  /** Ctrl-C: the command failed ("interrupted"), or it is how a person ends it (`stats`). */
  onInterrupt: 'fail' | 'end' = 'fail',
): Promise<void> {
  const p = procedure as Subscribable<T>;
  return new Promise((resolve, reject) => {
    const sub = p.subscribe(input as never, {
      onData,
      onError(err) {
        sub.unsubscribe();
        reject(err);
      },
      onComplete: () => resolve(),
      onConnectionStateChange(state) {
        if (state.state === 'connecting' && state.error) {
          sub.unsubscribe();
          reject(new AgentUnreachableError(socketPath, { cause: state.error }));
        }
      },
    });
    const stop = () => {
      sub.unsubscribe();
      if (onInterrupt === 'end') resolve();
      else reject(new Error('interrupted'));
    };
    process.once('SIGINT', stop);
  });
}
