import type { Metadata } from 'next';
import { LoginForm } from '@/modules/auth/login-form';

export const metadata: Metadata = { title: 'Sign in · Berth' };

export default function LoginPage() {
  return (
    <main className="login">
      <LoginForm />
    </main>
  );
}
