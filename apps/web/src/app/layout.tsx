import type { Metadata } from 'next';
import type { ReactNode } from 'react';
import { Providers } from '@/modules/trpc/providers';
import './globals.css';

export const metadata: Metadata = { title: 'Berth', description: 'Containers for a team that shares a host' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
