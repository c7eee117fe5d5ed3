'use client';
import { useMutation } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { type FormEvent, useState } from 'react';
import { describeError, trpc } from '@/modules/trpc/client';

export function LoginForm() {
  const router = useRouter();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const login = useMutation({
    mutationFn: () => trpc.auth.login.mutate({ username, password }),
    onSuccess: () => router.replace('/'),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    login.mutate();
  };
  return (
    <form className="card login-card" onSubmit={submit} aria-label="Sign in">
      <div className="brand">
        <span className="logo" aria-hidden>
          ⚓
        </span>
        <span>Berth</span>
      </div>
      <h1>Sign in</h1>
      <label>
        User name
        <input
          name="username"
          autoComplete="username"
          required
          value={username}
          onChange={(e) => setUsername(e.target.value)}
        />
      </label>
      <label>
        Password
        <input
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
      {login.isError && (
        <p className="error" role="alert" data-testid="login-error">
          {describeError(login.error).message}
        </p>
      )}
      <button type="submit" disabled={login.isPending}>
        {login.isPending ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
