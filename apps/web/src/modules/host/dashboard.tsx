'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useEffect } from 'react';
import { describeError, trpc } from '@/modules/trpc/client';
import { OpenTerminalForm } from '@/terminal/open-terminal-form';
import { HostFactsView } from './host-facts';

export function Dashboard() {
  const router = useRouter();
  const me = useQuery({ queryKey: ['auth.me'], queryFn: () => trpc.auth.me.query() });
  const signedIn = me.isSuccess;
  // Live: berthd is asked again every two seconds while the page is open.
  const facts = useQuery({
    queryKey: ['host.facts'],
    queryFn: () => trpc.host.facts.query(),
    enabled: signedIn,
    refetchInterval: 2000,
  });
  const logout = useMutation({
    mutationFn: () => trpc.auth.logout.mutate(),
    onSettled: () => router.replace('/login'),
  });

  const unauthenticated =
    (me.isError && describeError(me.error).code === 'UNAUTHENTICATED') ||
    (facts.isError && describeError(facts.error).code === 'UNAUTHENTICATED');
  useEffect(() => {
    if (unauthenticated) router.replace('/login');
  }, [unauthenticated, router]);

  return (
    <>
      <header className="topbar">
        <div className="brand">
          <span className="logo" aria-hidden>
            ⚓
          </span>
          <span>Berth</span>
        </div>
        {me.data && (
          <div className="who">
            <span data-testid="signed-in-as">{me.data.user.username}</span>
            <button type="button" className="link" onClick={() => logout.mutate()}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <main className="dashboard">
        <h1>Host</h1>
        {me.data?.user.role === 'admin' && <OpenTerminalForm />}
        {me.isError && !unauthenticated && (
          <p className="banner error" role="alert">
            {describeError(me.error).message}
          </p>
        )}
        {facts.isError && !unauthenticated && (
          <div className="banner">
            <p className="error" role="alert" data-testid="facts-error">
              {describeError(facts.error).message}
            </p>
            <p className="muted">
              {facts.data ? 'Showing the last facts received. ' : ''}Trying again every 2 seconds.
            </p>
          </div>
        )}
        {facts.data ? (
          <div className={facts.isError ? 'stale' : undefined}>
            <HostFactsView facts={facts.data} />
          </div>
        ) : (
          !facts.isError && <p className="muted">Asking the agent…</p>
        )}
      </main>
    </>
  );
}
